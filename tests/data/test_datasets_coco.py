"""CocoDataset on a small COCO json the tests write (a polygon, an RLE, a crowd box,
category ids out of order), and engine-convert-dataset's VOC XML and YOLO txt: boxes
checked by hand, masks with numpy, and the batches through DetectionEvaluator and the
digits detection example's loss."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from engine.data import CocoDataset
from engine.data.build import build_dataset, build_val_loader
from engine.utils.errors import EngineError
from test_datasets_formats import TO_TENSOR, evaluate, loader_cfg

CPU = torch.device("cpu")


def rle_of(mask):
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def write_coco(root, annotations=None, images=None):
    """Image 1 (60 x 40): a polygon object (category 7) and an RLE object (category 3)
    and a crowd box; image 2: nothing. Category ids out of order: labels follow ids."""
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    for name in ("a.png", "b.png"):
        cv2.imwrite(os.path.join(root, "img", name), np.full((40, 60, 3), 90, np.uint8))
    ring = np.zeros((40, 60), np.uint8)
    ring[20:30, 30:50] = 1
    ring[23:27, 36:44] = 0
    data = {
        "images": images or [{"id": 1, "file_name": "a.png", "width": 60, "height": 40},
                             {"id": 2, "file_name": "b.png", "width": 60, "height": 40}],
        "categories": [{"id": 7, "name": "seven"}, {"id": 3, "name": "three"}],
        "annotations": annotations or [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 0,
             "segmentation": [[10, 5, 30, 5, 30, 15, 10, 15]]},
            {"id": 11, "image_id": 1, "category_id": 3, "bbox": [30, 20, 20, 10], "iscrowd": 0,
             "segmentation": rle_of(ring)},
            {"id": 12, "image_id": 1, "category_id": 3, "bbox": [0, 30, 8, 6], "iscrowd": 1,
             "segmentation": rle_of(np.ones((40, 60), np.uint8))},
            {"id": 13, "image_id": 1, "category_id": 3, "bbox": [5, 5, 0, 3], "iscrowd": 0},  # no area: skipped
        ]}
    path = os.path.join(root, "ann.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return os.path.join(root, "img"), path, ring


def test_coco_classes_boxes_after_a_resize_masks_and_crowd(tmp_path):
    img_dir, ann, ring = write_coco(str(tmp_path))
    resize = [dict(name="Resize", target_size=[80, 90], keep_ratio=False), dict(name="ToTensor")]
    dataset = CocoDataset(img_dir, ann, resize, with_masks=True)
    assert dataset.classes == ["three", "seven"] and dataset.cat_ids == [3, 7] and len(dataset) == 2
    sample = dataset[0]
    sx, sy = 90 / 60, 80 / 40
    expected = np.array([[10 * sx, 5 * sy, 30 * sx, 15 * sy], [30 * sx, 20 * sy, 50 * sx, 30 * sy]], np.float32)
    assert sample["bbox"].dtype == torch.float32 and np.allclose(sample["bbox"].numpy(), expected)
    assert sample["labels"].tolist() == [1, 0] and sample["image_id"] == 1
    assert sample["input_data"].shape == (3, 80, 90) and sample["masks"].shape == (2, 80, 90)
    raw = CocoDataset(img_dir, ann, TO_TENSOR, with_masks=True)[0]["masks"].numpy()
    assert np.array_equal(raw[1], ring)  # the RLE, exactly
    rectangle = np.zeros((40, 60), np.uint8)
    rectangle[5:15, 10:30] = 1  # the polygon's inside (pycocotools adds the right and lower border)
    assert (raw[0] >= rectangle).all() and raw[0].sum() <= 21 * 11
    assert np.array_equal(sample["masks"][1].numpy(), cv2.resize(ring, (90, 80), interpolation=cv2.INTER_NEAREST))
    separate = CocoDataset(img_dir, ann, TO_TENSOR, crowd="separate")[0]
    assert separate["bbox_ignore"].tolist() == [[0, 30, 8, 36]] and len(separate["bbox"]) == 2
    assert len(CocoDataset(img_dir, ann, filter_empty=True)) == 1
    empty = dataset[1]
    assert empty["bbox"].shape == (0, 4) and empty["labels"].shape == (0,) and empty["masks"].shape == (0, 80, 90)


def test_coco_a_box_cropped_away_takes_its_mask_with_it(tmp_path):
    img_dir, ann, ring = write_coco(str(tmp_path))
    crop = [dict(name="CenterCrop", size=[8, 60]), dict(name="ToTensor")]  # rows 16..24: box 10 leaves
    sample = CocoDataset(img_dir, ann, crop, with_masks=True)[0]
    assert sample["labels"].tolist() == [0] and sample["bbox"].tolist() == [[30, 4, 50, 8]]
    assert np.array_equal(sample["masks"][0].numpy(), ring[16:24])
    crop = [dict(name="Pad", size=[40, 80]), dict(name="RandomCrop", size=[20, 30]), dict(name="ToTensor")]
    dataset = CocoDataset(img_dir, ann, crop, with_masks=True)
    counts = set()
    for seed in range(20):
        dataset.sample_rng = np.random.default_rng(seed)
        sample = dataset[0]
        counts.add(len(sample["bbox"]))
        assert len(sample["masks"]) == len(sample["bbox"]) == len(sample["labels"])
        for mask, (x1, y1, x2, y2) in zip(sample["masks"], sample["bbox"].round().long().tolist()):
            rows, cols = np.nonzero(mask.numpy())
            assert len(rows) and x1 <= cols.min() and cols.max() < x2 and y1 <= rows.min() and rows.max() < y2
    assert {0, 1, 2} <= counts


def test_coco_boxes_go_through_a_mosaic_and_masks_are_refused_there(tmp_path):
    img_dir, ann, _ = write_coco(str(tmp_path))
    mosaic = [dict(name="MosaicTransform", max_size=64, n=4, p=1.0), dict(name="ToTensor")]
    dataset = CocoDataset(img_dir, ann, mosaic, crowd="separate")
    dataset.sample_rng = np.random.default_rng(0)
    sample = dataset[0]
    assert sample["input_data"].shape == (3, 128, 128) and len(sample["bbox"]) == len(sample["labels"])
    with pytest.raises(EngineError, match="with_masks=True cannot go through MosaicTransform"):
        CocoDataset(img_dir, ann, mosaic, with_masks=True)


def test_coco_batches_fit_the_detection_evaluator_and_the_digits_detector(tmp_path):
    img_dir, ann, _ = write_coco(str(tmp_path))
    node = dict(name="CocoDataset", img_dir=img_dir, ann_file=ann, transformer=TO_TENSOR)
    dataset = build_dataset(node, "dataloader.val_data_set")
    batches = list(build_val_loader(dataset, loader_cfg(), device=CPU, persistent_workers=False))
    assert len(batches) == 1 and batches[0]["input_data"].shape == (2, 3, 40, 60)
    assert isinstance(batches[0]["bbox"], list) and len(batches[0]["labels"]) == 2

    truth = list(zip(batches[0]["bbox"], batches[0]["labels"]))

    def perfect(images):
        return [dict(boxes=b, scores=torch.ones(len(b)), labels=lab) for b, lab in truth]

    results = evaluate({"NAME": "DetectionEvaluator", "NUM_CLASSES": 2}, dataset, perfect)
    assert results["mAP"] == pytest.approx(1.0)

    from codes.digits_det.network import TinyCenterNet
    from codes.digits_det.targets import centernet_loss

    batch = batches[0]
    losses = centernet_loss(TinyCenterNet(num_classes=2, width=4)(batch["input_data"]), batch["bbox"],
                            batch["labels"], stride=TinyCenterNet.stride)
    assert all(torch.isfinite(v) for v in losses.values())


def test_coco_images_of_different_sizes_are_padded_into_one_batch(tmp_path):
    img_dir, ann, _ = write_coco(str(tmp_path), images=[
        {"id": 1, "file_name": "a.png", "width": 60, "height": 40},
        {"id": 2, "file_name": "c.png", "width": 30, "height": 50}])
    cv2.imwrite(os.path.join(img_dir, "c.png"), np.full((50, 30, 3), 90, np.uint8))
    dataset = CocoDataset(img_dir, ann, [dict(name="ToTensor")])
    batch = dataset.collate_fn([dataset[0], dataset[1]])
    assert batch["input_data"].shape == (2, 3, 50, 60) and batch["input_data"][1, :, :, 30:].abs().sum() == 0


@pytest.mark.parametrize("change, message", [
    ({"bbox": [1, 2, 3]}, "annotation id 10: 'bbox' must be [x, y, width, height] numbers"),
    ({"bbox": [1, 2, -3, 4]}, "annotation id 10: 'bbox' [1, 2, -3, 4] has a negative width"),
    ({"category_id": 99}, "annotation id 10: category_id 99 is not a category of the file (ids: [3, 7])"),
    ({"image_id": 5}, "annotation id 10: image_id 5 is not an image of the file"),
    ({"segmentation": [[1, 2, 3]]}, "annotation id 10: 'segmentation' polygons must be"),
    ({"segmentation": {"counts": "x", "size": [4, 4]}}, "annotation id 10: the RLE's size [4, 4] is not the image's"),
    ({"segmentation": {"counts": [5, "x"], "size": [40, 60]}}, "annotation id 10: cannot decode its 'segmentation'"),
])
def test_coco_bad_annotations_are_named_by_file_and_id(tmp_path, change, message):
    good = {"id": 10, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10],
            "segmentation": [[10, 5, 30, 5, 30, 15]]}
    img_dir, ann, _ = write_coco(str(tmp_path), annotations=[dict(good, **change)])
    with pytest.raises(EngineError) as info:
        CocoDataset(img_dir, ann, TO_TENSOR, with_masks=True)[0]
    assert str(info.value).startswith(f"CocoDataset: {ann}: ") and message in str(info.value)


def test_coco_missing_unreadable_or_resized_images_are_named(tmp_path):
    img_dir, ann, _ = write_coco(str(tmp_path))
    os.remove(os.path.join(img_dir, "b.png"))
    with pytest.raises(EngineError, match=f"image id 2: the image {os.path.join(img_dir, 'b.png')} does not exist"):
        CocoDataset(img_dir, ann)
    cv2.imwrite(os.path.join(img_dir, "b.png"), np.zeros((41, 60, 3), np.uint8))
    with pytest.raises(EngineError, match="image id 2: the image .*b.png is 60x41 but the json says 60x40"):
        CocoDataset(img_dir, ann)[1]
    with open(ann, "w") as f:
        f.write('{"images": [')
    with pytest.raises(EngineError, match=f"CocoDataset: {ann} is not valid JSON"):
        CocoDataset(img_dir, ann)


# ------------------------------------------------------------------ engine-convert-dataset
VOC_XML = """<annotation><folder>VOC</folder><filename>{name}</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objects}</annotation>"""
VOC_OBJECT = ("<object><name>{cls}</name><difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin>"
              "<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")


def write_voc(root):
    """Two VOC files: 'dog' [11..30] x [6..15] (1-based, inclusive) and a difficult
    'cat' in a.jpg; nothing in b.jpg, whose XML gives size 0 (read from the image)."""
    os.makedirs(os.path.join(root, "Annotations"))
    os.makedirs(os.path.join(root, "JPEGImages"))
    for name in ("a", "b"):
        cv2.imwrite(os.path.join(root, "JPEGImages", f"{name}.jpg"), np.zeros((40, 60, 3), np.uint8))
    objects = VOC_OBJECT.format(cls="dog", difficult=0, x1=11, y1=6, x2=30, y2=15) + \
        VOC_OBJECT.format(cls="cat", difficult=1, x1=1, y1=1, x2=5, y2=5)
    with open(os.path.join(root, "Annotations", "a.xml"), "w") as f:
        f.write(VOC_XML.format(name="a.jpg", w=60, h=40, objects=objects))
    with open(os.path.join(root, "Annotations", "b.xml"), "w") as f:
        f.write(VOC_XML.format(name="b.jpg", w=0, h=0, objects=""))
    return os.path.join(root, "Annotations"), os.path.join(root, "JPEGImages")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def convert(args, capsys):
    from engine.tools import convert_dataset

    code = convert_dataset.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_voc_to_coco_keeps_the_pixels_and_marks_difficult_objects_crowd(tmp_path, capsys):
    ann_dir, img_dir = write_voc(str(tmp_path))
    out = str(tmp_path / "voc.json")
    code, printed, _ = convert(["voc", ann_dir, "--img-dir", img_dir, "--out", out], capsys)
    assert code == 0 and "2 images, 2 boxes, 2 classes (cat, dog)" in printed
    coco = read_json(out)
    assert [c["name"] for c in coco["categories"]] == ["cat", "dog"]
    assert [(i["file_name"], i["width"], i["height"]) for i in coco["images"]] == [("a.jpg", 60, 40), ("b.jpg", 60, 40)]
    dog = next(a for a in coco["annotations"] if a["category_id"] == 2)
    assert dog["bbox"] == [10, 5, 20, 10] and dog["iscrowd"] == 0  # 20 pixels wide: 11..30
    dataset = CocoDataset(img_dir, out, TO_TENSOR, crowd="separate")
    assert dataset.classes == ["cat", "dog"]
    sample = dataset[0]
    assert sample["bbox"].tolist() == [[10, 5, 30, 15]] and sample["labels"].tolist() == [1]
    assert sample["bbox_ignore"].tolist() == [[0, 0, 5, 5]]
    code, _, err = convert(["voc", ann_dir, "--out", out, "--classes", "dog,cat,bird"], capsys)
    assert code == 2 and "b.xml: the image size is not in the file; give --img-dir" in err
    code, _, _ = convert(["voc", ann_dir, "--img-dir", img_dir, "--out", out, "--classes", "dog,cat,bird"], capsys)
    assert code == 0 and [c["name"] for c in read_json(out)["categories"]] == ["dog", "cat", "bird"]


def test_yolo_to_coco_scales_the_fractions_by_each_image(tmp_path, capsys):
    os.makedirs(tmp_path / "images" / "sub")
    os.makedirs(tmp_path / "labels" / "sub")
    cv2.imwrite(str(tmp_path / "images" / "sub" / "x.png"), np.zeros((50, 100, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "images" / "y.jpg"), np.zeros((20, 20, 3), np.uint8))  # no label file: background
    (tmp_path / "labels" / "sub" / "x.txt").write_text("1 0.5 0.5 0.2 0.4\n\n0 0.1 0.1 0.2 0.2\n")
    (tmp_path / "labels" / "classes.txt").write_text("person\ncar\n")
    out = str(tmp_path / "yolo.json")
    code, printed, _ = convert(["yolo", str(tmp_path / "labels"), "--img-dir", str(tmp_path / "images"),
                                "--out", out], capsys)
    assert code == 0 and "2 images, 2 boxes, 2 classes (person, car)" in printed
    dataset = CocoDataset(str(tmp_path / "images"), out, TO_TENSOR)
    assert dataset.classes == ["person", "car"] and dataset.describe_sample(0).endswith("sub/x.png, image id 1")
    sample = dataset[0]
    assert np.allclose(sample["bbox"].numpy(), [[40, 15, 60, 35], [0, 0, 20, 10]])
    assert sample["labels"].tolist() == [1, 0] and dataset[1]["bbox"].shape == (0, 4)


@pytest.mark.parametrize("fmt, content, message", [
    ("voc", "<annotation><filename>a.jpg</filename", "a.xml: not well-formed XML"),
    ("voc", VOC_XML.format(name="a.jpg", w=60, h=40, objects="<object><name>dog</name><bndbox><xmin>1</xmin>"
                           "</bndbox></object>"), "a.xml: object 1 ('dog'): <ymin> is missing"),
    ("voc", VOC_XML.format(name="zz.jpg", w=60, h=40, objects=""), "a.xml: its image 'zz.jpg' is not in"),
    ("yolo", "0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.1 0.1\n", "a.txt line 2: class 5 is not an index of the 2 classes"),
    ("yolo", "0 0.5 0.5 0.2\n", "a.txt line 1: expected 'class x_center y_center width height'"),
    ("yolo", "0 0.5 1.5 0.2 0.2\n", "a.txt line 1: centre and size must be fractions of the image"),
])
def test_bad_label_files_are_one_error_line_naming_the_file(tmp_path, capsys, fmt, content, message):
    os.makedirs(tmp_path / "labels")
    os.makedirs(tmp_path / "images")
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((40, 60, 3), np.uint8))
    (tmp_path / "labels" / ("a.xml" if fmt == "voc" else "a.txt")).write_text(content)
    args = [fmt, str(tmp_path / "labels"), "--img-dir", str(tmp_path / "images"), "--out", str(tmp_path / "o.json"),
            "--classes", "dog,cat"]
    code, _, err = convert(args, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o.json").exists()


def test_convert_dataset_runs_as_a_module_and_refuses_missing_classes(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    os.makedirs(tmp_path / "labels")
    os.makedirs(tmp_path / "images")
    proc = subprocess.run([sys.executable, "-m", "engine.tools.convert_dataset", "yolo", str(tmp_path / "labels"),
                           "--img-dir", str(tmp_path / "images"), "--out", str(tmp_path / "o.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: yolo needs the class names"), proc.stderr
