"""The datasets for the common formats (engine/data/datasets) on small real files the
tests write: digit PNGs per class folder, image/mask lists (COCO: test_datasets_coco.py).
Expectations are computed here, independently of the engine: masks with numpy, labels
and counts from what was written; and train.py trains the digits network from a config
naming ImageFolderDataset."""
import json
import os

import cv2
import numpy as np
import pytest
import torch

from codes.digits.dataset import load_digits_split
from conftest import run_train
from engine.config import get_default_cfg
from engine.data import ImageFolderDataset, ImageMaskListDataset
from engine.data.build import BUILD_DATASET_REGISTRY, build_dataset, build_val_loader
from engine.evaluation import build_evaluator
from engine.utils.errors import EngineError

CPU = torch.device("cpu")
TO_TENSOR = [dict(name="ToTensor")]


def loader_cfg(batch=4):
    cfg = get_default_cfg()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.TEST_PER_BATCH = batch
    return cfg


def evaluate(evaluator_node, dataset, generator):
    """``evaluator_node`` over the engine's validation loader of ``dataset``; the model
    answers ``generator(batch inputs)``."""
    model = type("Model", (), {"generator": staticmethod(generator)})()
    evaluator = build_evaluator(evaluator_node)
    for batch in build_val_loader(dataset, loader_cfg(), device=CPU, persistent_workers=False):
        evaluator.process(model, batch)
    return evaluator.evaluate()


# ------------------------------------------------------------------ image folders
def write_digit_folders(root, split="train", per_class=5, names=None):
    """sklearn's digits as 8x8 grey PNGs in root/<name>/; returns {path: class name}."""
    images, labels = load_digits_split(split)
    names = names or [str(d) for d in range(10)]
    written = {}
    for digit, name in enumerate(names):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for k, index in enumerate(np.flatnonzero(labels == digit)[:per_class]):
            path = os.path.join(root, name, f"{k:03d}.png")
            cv2.imwrite(path, images[index])
            written[path] = name
    return written


def test_image_folder_classes_sorted_targets_pixels_and_extensions(tmp_path):
    written = write_digit_folders(str(tmp_path), per_class=3, names=["zero", "one", "two"])
    os.makedirs(tmp_path / "one" / "nested")
    cv2.imwrite(str(tmp_path / "one" / "nested" / "x.JPG"), np.full((8, 8), 50, np.uint8))
    (tmp_path / "two" / "notes.txt").write_text("not an image")
    dataset = ImageFolderDataset(str(tmp_path), transformer=TO_TENSOR)
    assert dataset.classes == ["one", "two", "zero"]  # sorted, as torchvision
    assert len(dataset) == 10 and dataset.describe_sample(3).endswith(os.path.join("one", "nested", "x.JPG"))
    for index in range(len(dataset)):
        path = dataset.describe_sample(index)
        sample = dataset[index]
        name = written.get(path, "one")
        assert sample["target_data"] == dataset.classes.index(name)
        grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
        assert sample["input_data"].shape == (3, 8, 8)  # grey files read as RGB
        assert np.allclose(sample["input_data"].numpy(), grey[None].repeat(3, 0), atol=1e-6)
    assert ImageFolderDataset(str(tmp_path), color_type="grayscale", transformer=TO_TENSOR)[0]["input_data"].shape \
        == (1, 8, 8)
    assert ImageFolderDataset(str(tmp_path), classes=["zero", "two"]).targets == [0] * 3 + [1] * 3


def test_image_folder_works_with_the_classification_evaluator(tmp_path):
    write_digit_folders(str(tmp_path), split="val", per_class=4)
    node = dict(name="ImageFolderDataset", root=str(tmp_path), transformer=TO_TENSOR)
    dataset = build_dataset(node, "dataloader.val_data_set")
    always_three = lambda x: torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()  # noqa: E731
    results = evaluate({"NAME": "ClassificationEvaluator"}, dataset, always_three)
    assert results["accuracy"] == pytest.approx(4 / 40)


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        ImageFolderDataset(str(tmp_path / "nope"))
    with pytest.raises(EngineError, match="no class folders"):
        ImageFolderDataset(str(tmp_path))
    write_digit_folders(str(tmp_path), per_class=2, names=["a", "b"])
    os.makedirs(tmp_path / "c")
    with pytest.raises(EngineError, match=r"no image in the class folder\(s\) \['c'\]"):
        ImageFolderDataset(str(tmp_path))
    assert ImageFolderDataset(str(tmp_path), allow_empty=True).classes == ["a", "b", "c"]
    broken = tmp_path / "b" / "999.png"
    broken.write_bytes(b"\x89PNG truncated")
    dataset = ImageFolderDataset(str(tmp_path), allow_empty=True, transformer=TO_TENSOR)
    index = dataset.samples.index((str(broken), 1))
    with pytest.raises(EngineError, match=f"cannot read the image {broken}: not an image OpenCV can decode"):
        dataset[index]
    assert dataset.describe_sample(index) == str(broken)
    for workers in (0, 1):  # from a worker too: the message as the dataset wrote it, no torch preamble
        cfg = loader_cfg()
        cfg.DATALOADER.NUM_WORKERS = workers
        with pytest.raises(EngineError) as info:
            list(build_val_loader(dataset, cfg, device=CPU, persistent_workers=False))
        assert str(info.value) == (f"ImageFolderDataset({str(tmp_path)!r}): cannot read the image {broken}: not "
                                   f"an image OpenCV can decode (corrupt, truncated or another format)")


# ------------------------------------------------------------------ image/mask lists
def write_pairs(root, name, count, size=(12, 16)):
    """``count`` pairs listed in ``name``: image i is grey i*10, mask i has labels 0, 1,
    2 and 255 in fixed blocks (so a resize can be checked against numpy)."""
    lines = []
    for i in range(count):
        img, mask = f"img/{name}_{i}.png", f"ann/{name}_{i}.png"
        os.makedirs(os.path.join(root, "img"), exist_ok=True)
        os.makedirs(os.path.join(root, "ann"), exist_ok=True)
        label = np.zeros(size, np.uint8)
        label[:, 4:8], label[:, 8:12], label[:6, 12:] = 1, 2, 255
        cv2.imwrite(os.path.join(root, img), np.full(size + (3,), i * 10, np.uint8))
        cv2.imwrite(os.path.join(root, mask), label)
        lines.append(f"{img},{mask}")
    with open(os.path.join(root, name), "w") as f:
        f.write("\n".join(lines) + "\n\n")
    return label


def test_mask_list_masks_keep_their_labels_through_every_transform(tmp_path):
    label = write_pairs(str(tmp_path), "train.txt", 3)
    pipeline = [dict(name="Resize", target_size=[24, 32], interpolation="INTER_LINEAR"),
                dict(name="RandomColorJitter", brightness_limit=[0.5, 1.5], brightness_p=1.0),
                dict(name="Normalize", mean=[100.0] * 3, std=[50.0] * 3), dict(name="ToTensor")]
    dataset = ImageMaskListDataset(str(tmp_path), "train.txt", pipeline)
    sample = dataset[2]
    assert sample["input_data"].shape == (3, 24, 32) and sample["target_data"].dtype == torch.int64
    assert np.array_equal(sample["target_data"].numpy(), np.kron(label, np.ones((2, 2), np.uint8)))
    flip = ImageMaskListDataset(str(tmp_path), ["train.txt"], [dict(name="RandomFlip", direction=["horizontal"],
                                                                    p=1.0), dict(name="ToTensor")])[0]
    assert np.array_equal(flip["target_data"].numpy(), label[:, ::-1])


def test_mask_list_ratios_repeat_or_subsample_each_list(tmp_path):
    write_pairs(str(tmp_path), "a.txt", 4)
    write_pairs(str(tmp_path), "b.txt", 6)
    dataset = ImageMaskListDataset(str(tmp_path), ["a.txt", "b.txt"], TO_TENSOR, ratios=[2.5, 0.5])
    assert dataset.list_counts == [10, 3] and len(dataset) == 13
    used = [dataset.describe_sample(i).split(",")[0] for i in range(len(dataset))]
    a = [used.count(os.path.join(str(tmp_path), f"img/a.txt_{i}.png")) for i in range(4)]
    b = [used.count(os.path.join(str(tmp_path), f"img/b.txt_{i}.png")) for i in range(6)]
    assert sorted(a) == [2, 2, 3, 3] and b == [1, 0, 1, 0, 1, 0]
    assert len(ImageMaskListDataset(str(tmp_path), ["a.txt", "b.txt"], ratios=[0, 1])) == 6


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):
    from engine.data.seeding import SeededSamples

    write_pairs(str(tmp_path), "a.txt", 2)
    flip = [dict(name="RandomFlip", direction=["horizontal"], p=0.5), dict(name="ToTensor")]
    seeded = SeededSamples(ImageMaskListDataset(str(tmp_path), "a.txt", flip, ratios=[4]), seed=3)
    masks = {key: seeded[key]["target_data"] for key in [(e, i) for e in range(3) for i in range(8)]}
    assert all(torch.equal(seeded[key]["target_data"], mask) for key, mask in masks.items())
    flipped = {key: bool(mask[0, 0] == 255) for key, mask in masks.items()}  # 255 sits top right
    assert set(flipped.values()) == {True, False}


def test_mask_list_works_with_the_segmentation_evaluator(tmp_path):
    write_pairs(str(tmp_path), "val.txt", 5)
    dataset = ImageMaskListDataset(str(tmp_path), "val.txt", TO_TENSOR)
    stripes = lambda x: torch.tensor([[0] * 4 + [1] * 4 + [2] * 8] * 12).expand(len(x), 12, 16)  # noqa: E731
    results = evaluate({"NAME": "SegmentationEvaluator", "NUM_CLASSES": 3}, dataset, stripes)
    # class 2 is predicted over 12 x 8 pixels per image: 6 x 4 of them are 255 (ignored),
    # 6 x 4 are background (0); the other 2 x 12 x 4 pixels are right
    assert results["IoU_class_0"] == pytest.approx(48 / 72) and results["IoU_class_1"] == 1
    assert results["IoU_class_2"] == pytest.approx(48 / 72)
    assert results["pixel_acc"] == pytest.approx(144 / 168)


def test_mask_list_errors_name_the_list_and_line(tmp_path):
    write_pairs(str(tmp_path), "train.txt", 3)
    lst = os.path.join(str(tmp_path), "train.txt")
    with pytest.raises(EngineError, match="the list file .*nope.txt does not exist"):
        ImageMaskListDataset(str(tmp_path), "nope.txt")
    with pytest.raises(EngineError, match=r"ratios must be one number >= 0 per list file \(1\)"):
        ImageMaskListDataset(str(tmp_path), "train.txt", ratios=[1, 2])
    os.remove(os.path.join(str(tmp_path), "ann/train.txt_1.png"))
    with pytest.raises(EngineError, match=f"{lst} line 2: the mask {tmp_path}/ann/train.txt_1.png does not exist"):
        ImageMaskListDataset(str(tmp_path), "train.txt")
    cv2.imwrite(os.path.join(str(tmp_path), "ann/train.txt_1.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(EngineError, match=f"{lst} line 2: the mask .* is 5x5 but the image .* is 16x12"):
        ImageMaskListDataset(str(tmp_path), "train.txt")[1]
    cv2.imwrite(os.path.join(str(tmp_path), "ann/train.txt_1.png"), np.dstack([np.zeros((12, 16), np.uint8)] * 2
                                                                               + [np.ones((12, 16), np.uint8)]))
    with pytest.raises(EngineError, match="line 2: the mask .* is a colour image"):
        ImageMaskListDataset(str(tmp_path), "train.txt")[1]
    with open(lst, "a") as f:
        f.write("img/only_one_field.png\n")
    with pytest.raises(EngineError, match=f"{lst} line 5: expected 'img_path,mask_path'"):
        ImageMaskListDataset(str(tmp_path), "train.txt")


def test_the_datasets_are_registered_for_configs():
    names = set(BUILD_DATASET_REGISTRY.registered_names())
    assert {"ImageFolderDataset", "CocoDataset", "ImageMaskListDataset"} <= names


# ------------------------------------------------------------------ end to end
CONFIG = '''
output_dir = {out!r}
output_log_name = "folder"
seed = 0
_transform = [dict(name="Resize", target_size=16), dict(name="Normalize", mean=[127.5], std=[127.5]),
              dict(name="ToTensor")]
dataloader = dict(
    num_workers=0,
    train_data_set=dict(name="ImageFolderDataset", root={train!r}, color_type="grayscale",
                        transformer=[dict(name="Resize", target_size=16), dict(name="Pad", size=[18, 18]),
                                     dict(name="RandomCrop", size=[16, 16])] + _transform[1:]),
    val_data_set=dict(name="ImageFolderDataset", root={val!r}, color_type="grayscale", transformer=_transform),
)
trainer = dict(
    name="BaseTrainer", device="cpu", log_period=20, progress_bar=False,
    model=dict(name="DigitsClassifier", generator=dict(name="DigitsNet", num_classes=10, width=16),
               loss=dict(cls=[dict(name="CrossEntropyLoss", param=dict(lambda_weight=1.0))])),
    evaluator=dict(name="ClassificationEvaluator"),
)
solver = dict(
    train_per_batch=32, test_per_batch=100, max_iter={steps}, checkpoint_period={steps}, eval_period={steps},
    generator=dict(optimizer=dict(type="AdamW", params=dict(lr=0.01))),
)
'''


@pytest.mark.slow  # ~20 s; tests/model/test_model_zoo.py trains from PNG folders in the default suite
def test_train_py_trains_the_digits_network_from_a_folder_of_pngs(tmp_path):
    """The digits example's network and model, its data as PNG files in class folders and
    a config naming ImageFolderDataset: no dataset code."""
    write_digit_folders(str(tmp_path / "train"), "train", per_class=40)
    write_digit_folders(str(tmp_path / "val"), "val", per_class=10)
    config = tmp_path / "folder.py"
    config.write_text(CONFIG.format(out=str(tmp_path / "out"), train=str(tmp_path / "train"),
                                    val=str(tmp_path / "val"), steps=80))
    proc = run_train(["--config-file", str(config)], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "out" / "folder" / "metrics.jsonl") as f:
        evals = [r for r in map(json.loads, f) if r["type"] == "eval"]
    assert evals[-1]["iter"] == 80 and evals[-1]["accuracy"] >= 0.5, evals  # 0.74 measured; chance is 0.1
