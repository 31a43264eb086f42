"""Zero code for the common formats: networks by name, and the built-in task bundles
trained from a config alone on small real data (digits as a PNG folder per class, a mask
list, a COCO file), then engine-test, engine-export --verify and the Predictor on them."""
import json
import os

import pytest
import torch

from engine.model.build import build_network
from engine.tools import export as export_tool
from engine.tools import test as test_tool
from engine.utils.errors import ConfigError, EngineError

from zoo_data import digits_coco, digits_folder, digits_masks
from zoo_runs import train_config

PIPE = [dict(name="Normalize"), dict(name="ToTensor")]


def network(name, **kwargs):
    return build_network({"NAME": name, **kwargs})


@pytest.fixture
def downloads(monkeypatch):
    """Every weights download torchvision tries, refused and recorded."""
    import torchvision.models._api as api

    urls = []

    def refuse(url, *args, **kwargs):
        urls.append(url)
        raise RuntimeError(f"download attempted: {url}")

    monkeypatch.setattr(api, "load_state_dict_from_url", refuse)
    return urls


# ---------------------------------------------------------------- networks by name
def test_torchvision_builders_by_name_with_their_kwargs_and_no_weights(downloads):
    net = network("torchvision.resnet18", num_classes=3)
    assert net.fc.out_features == 3 and net(torch.zeros(2, 3, 16, 16)).shape == (2, 3)
    # segmentation / detection builders default their backbone to ImageNet weights: not here
    seg = network("torchvision.segmentation.lraspp_mobilenet_v3_large", num_classes=2)
    assert seg.eval()(torch.zeros(1, 3, 32, 32))["out"].shape == (1, 2, 32, 32)
    assert type(network("torchvision.models.squeezenet1_1", num_classes=4)).__name__ == "SqueezeNet"
    assert downloads == []


def test_weights_given_is_the_torchvision_call_as_written(downloads):
    with pytest.raises(RuntimeError, match="download attempted"):
        network("torchvision.resnet18", weights="DEFAULT")
    assert len(downloads) == 1 and "resnet18" in downloads[0]
    network("torchvision.resnet18", weights=None)  # None asks for none: backbone weights stay off too
    assert len(downloads) == 1


def test_unknown_names_and_arguments_are_one_clear_error():
    with pytest.raises(ConfigError, match=r"'torchvision.resnt18' is not a torchvision model.*"
                                          r"Did you mean 'torchvision.resnet18'"):
        network("torchvision.resnt18")
    with pytest.raises(ConfigError, match=r"not registered in the BUILD_NETWORK registry\. Did you mean "
                                          r"'torchvision.resnet18'"):
        network("resnet18")
    with pytest.raises(ConfigError, match=r"torchvision.resnet18\(num_clases=3\): .*num_clases"):
        network("torchvision.resnet18", num_clases=3)
    with pytest.raises(ConfigError, match="num_classes"):  # pretrained weights have 1000 classes
        network("torchvision.resnet18", weights="IMAGENET1K_V1", num_classes=3)


def test_timm_names_need_timm():
    try:
        import timm  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"timm model, but timm is not installed \(pip install timm\)"):
            network("timm.resnet18")
        return
    net = network("timm.resnet18", num_classes=3)
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(ConfigError, match="Did you mean 'timm.resnet18'"):
        network("timm.resnet1")


# ---------------------------------------------------------------- trained from a config alone
@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    """resnet18 by name on a digits PNG folder, the default evaluator (validation loss)."""
    root = tmp_path_factory.mktemp("cls")
    data = digits_folder(root / "data", size=16, per_class=(20, 6))
    run_dir = train_config(root, "cls", dict(
        dataloader=dict(train_data_set=dict(name="ImageFolderDataset", root=data["train"], transformer=PIPE),
                        val_data_set=dict(name="ImageFolderDataset", root=data["val"], transformer=PIPE)),
        trainer=dict(model=dict(name="ClassificationModel",
                                generator=dict(name="torchvision.resnet18", num_classes=10))),
        solver=dict(train_per_batch=8, test_per_batch=30)))
    return run_dir, data


def test_classification_trains_then_test_out_export_and_predictor_work(classification, tmp_path, monkeypatch):
    run_dir, data = classification
    weights = os.path.join(run_dir, "checkpoints", "model_final.pth")
    monkeypatch.chdir(tmp_path)  # another folder: only the run's config.yaml
    args = ["--config-file", os.path.join(run_dir, "config.yaml"), "--weights", weights]
    assert test_tool.main(args + ["--out", "loss.jsonl", "--work-dir", "w1"]) == 0
    rows = [json.loads(line) for line in open("loss.jsonl")]
    assert [r["target"] for r in rows] == data["val_labels"] and set(rows[0]) == {"index", "label", "score", "target"}
    assert test_tool.main(args + ["--out", "acc.jsonl", "--work-dir", "w2", "trainer.evaluator.name",
                                  "ClassificationEvaluator"]) == 0
    accuracy = json.load(open("w2/metrics.json"))["metrics"]["accuracy"]
    again = [json.loads(line) for line in open("acc.jsonl")]
    assert [r["label"] for r in again] == [r["label"] for r in rows]
    assert accuracy == sum(r["label"] == r["target"] for r in rows) / len(rows)

    from engine.inference import Predictor

    predictor = Predictor.from_run(run_dir)
    images = sorted(os.path.join(data["val"], "0", n) for n in os.listdir(os.path.join(data["val"], "0")))
    assert [p["label"] for p in predictor.postprocess(images)] == [r["label"] for r in rows[:len(images)]]
    assert export_tool.main(args + ["--output", "m.onnx", "--input-shape", "1", "3", "16", "16", "--verify",
                                    "--input-img", images[0]]) == 0 and os.path.isfile("m.onnx")


def test_segmentation_from_a_mask_list(tmp_path, capsys):
    data = digits_masks(tmp_path / "data", count=(8, 4))
    node = dict(name="ImageMaskListDataset", root=data["root"], transformer=PIPE)
    run_dir = train_config(tmp_path, "seg", dict(
        dataloader=dict(train_data_set=dict(node, list_files=data["train"]),
                        val_data_set=dict(node, list_files=data["val"])),
        trainer=dict(model=dict(name="SegmentationModel", generator=dict(
            name="torchvision.segmentation.lraspp_mobilenet_v3_large", num_classes=2)),
            evaluator=dict(name="SegmentationEvaluator", num_classes=2)),
        solver=dict(train_per_batch=4, test_per_batch=4)))
    args = ["--config-file", os.path.join(run_dir, "config.yaml"),
            "--weights", os.path.join(run_dir, "checkpoints", "model_final.pth")]
    out = tmp_path / "masks.jsonl"
    assert test_tool.main(args + ["--out", str(out), "trainer.evaluator.name", "''"]) == 0  # default evaluator
    rows = [json.loads(line) for line in open(out)]
    assert len(rows) == 4 and set(rows[0]) == {"index", "mask"} and len(rows[0]["mask"]) == 32
    image = os.path.join(data["root"], "images", "val_000.png")
    assert export_tool.main(args + ["--output", str(tmp_path / "s.onnx"), "--input-shape", "1", "3", "32", "32",
                                    "--verify", "--input-img", image]) == 0
    assert "@ batch 7 (shape [7, 2, 32, 32])" in capsys.readouterr().out

    from engine.inference import Predictor

    masks = Predictor.from_run(run_dir).postprocess([image])
    assert masks[0]["mask"].shape == (32, 32) and masks[0]["mask"].tolist() == rows[0]["mask"]


DETECTOR = dict(name="torchvision.fasterrcnn_mobilenet_v3_large_fpn", num_classes=3, min_size=48, max_size=48)


def test_detection_from_a_coco_file(tmp_path):
    data = digits_coco(tmp_path / "data", count=4)
    node = dict(name="CocoDataset", img_dir=data["img_dir"], ann_file=data["ann_file"])
    run_dir = train_config(tmp_path, "det", dict(
        dataloader=dict(train_data_set=node, val_data_set=node),
        trainer=dict(model=dict(name="DetectionModel", generator=DETECTOR),
                     evaluator=dict(name="DetectionEvaluator", num_classes=2)),
        solver=dict(train_per_batch=2, test_per_batch=4, max_iter=2,
                    generator=dict(optimizer=dict(type="SGD", params=dict(lr=0.01))))))
    evals = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert "mAP" in [r for r in evals if r["type"] == "eval"][-1]
    out = tmp_path / "boxes.jsonl"
    args = ["--config-file", os.path.join(run_dir, "config.yaml"),
            "--weights", os.path.join(run_dir, "checkpoints", "model_final.pth")]
    assert test_tool.main(args + ["--out", str(out), "trainer.evaluator.name", "''"]) == 0  # validation loss
    rows = [json.loads(line) for line in open(out)]
    assert len(rows) == 4 and set(rows[0]) == {"index", "boxes", "scores", "labels"}
    assert all(0 <= label < 2 for r in rows for label in r["labels"])

    from engine.inference import Predictor

    found = Predictor.from_run(run_dir)([os.path.join(data["img_dir"], "000.png")])
    assert found[0]["boxes"].shape[1] == 4 and torch.allclose(found[0]["boxes"], torch.tensor(rows[0]["boxes"]))


def test_detection_validation_loss_leaves_statistics_and_random_stream_alone(tmp_path):
    from zoo_runs import build_bundle

    model = build_bundle(tmp_path, dict(name="DetectionModel", generator=DETECTOR))
    batch = {"input_data": torch.rand(2, 3, 48, 48), "bbox": [torch.tensor([[4.0, 4, 20, 20]]), torch.zeros(0, 4)],
             "labels": [torch.tensor([1]), torch.zeros(0, dtype=torch.int64)]}
    buffers = {k: v.clone() for k, v in model.g_model.state_dict().items()}
    rng = torch.get_rng_state()
    with model.inference_weights():
        losses = model.run_step(batch)
        assert not model.g_model.training and all(not m.training for m in model.g_model.modules())
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    assert all(torch.equal(v, model.g_model.state_dict()[k]) for k, v in buffers.items())
    assert torch.equal(torch.get_rng_state(), rng)
    model.train()
    bad = dict(batch, labels=[torch.tensor([2]), torch.zeros(0, dtype=torch.int64)])  # class 2 of 2 + background
    with pytest.raises(EngineError, match=r"class index 2 needs num_classes >= 4 .*background"):
        model.run_step(bad)


@pytest.mark.slow
def test_an_image_folder_trains_to_90_percent_measured_from_test_out(tmp_path, monkeypatch):
    """The zero-code path to its target: resnet18 by name on digits PNGs (1,000 training
    images), then the accuracy measured outside the engine from engine-test --out run
    with the default evaluator from another folder (about 4 min on 2 busy CPU cores)."""
    data = digits_folder(tmp_path / "data", size=16, per_class=(100, 20))
    run_dir = train_config(tmp_path, "digits", dict(
        dataloader=dict(train_data_set=dict(name="ImageFolderDataset", root=data["train"], transformer=PIPE),
                        val_data_set=dict(name="ImageFolderDataset", root=data["val"], transformer=PIPE)),
        trainer=dict(log_period=20, model=dict(name="ClassificationModel",
                                               generator=dict(name="torchvision.resnet18", num_classes=10))),
        solver=dict(train_per_batch=32, test_per_batch=100, max_iter=80)))
    monkeypatch.chdir(tmp_path / "data")
    assert test_tool.main(["--config-file", os.path.join(run_dir, "config.yaml"), "--out", "preds.jsonl",
                           "--weights", os.path.join(run_dir, "checkpoints", "model_final.pth")]) == 0
    labels = [json.loads(line)["label"] for line in open("preds.jsonl")]
    accuracy = sum(a == b for a, b in zip(labels, data["val_labels"])) / len(data["val_labels"])
    assert len(labels) == 200 and accuracy >= 0.9, accuracy
