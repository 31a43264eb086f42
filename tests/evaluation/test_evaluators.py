"""The built-in evaluators (the default loss evaluator; classification, segmentation,
detection, retrieval): values against hand computations and independent libraries
(sklearn, pycocotools used directly), bad input, per-sample outputs, and shards combined
over 2 simulated ranks."""
import json
import math
import os
import threading

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, jaccard_score, roc_curve

from engine.evaluation import build_evaluator
from engine.evaluation.retrieval import tpr_at_fpr
from engine.utils import comm
from engine.utils.errors import ConfigError, EngineError

NAN = float("nan")


class Identity:
    """A model whose generator returns the batch's input: the batch holds the predictions."""

    def generator(self, inputs):
        return inputs


def evaluate(node, batches, **options):
    evaluator = build_evaluator(node, **options)
    evaluator.reset()
    for batch in batches:
        evaluator.process(Identity(), batch)
    return evaluator, evaluator.evaluate()


def same(a, b):
    """Equal dicts of floats, NaN equal to NaN."""
    assert a.keys() == b.keys()
    for key in a:
        if math.isnan(b[key]):
            assert math.isnan(a[key]), key
        else:
            assert a[key] == pytest.approx(b[key], abs=1e-9), key


# ------------------------------------------------------------------ loss (the default)
class FixedLossModel:
    """run_step returns the mean of the batch's 'x' values as its loss."""

    def run_step(self, batch):
        return {"l": batch["x"].float().mean()}


def test_loss_evaluator_averages_per_sample_not_per_batch():
    evaluator = build_evaluator({})
    evaluator.reset()
    evaluator.process(FixedLossModel(), {"x": torch.tensor([1.0, 1.0, 1.0])})
    evaluator.process(FixedLossModel(), {"x": torch.tensor([5.0])})
    assert evaluator.evaluate() == {"val_l": pytest.approx((1 + 1 + 1 + 5) / 4)}


# ------------------------------------------------------------------ classification
def test_classification_top1_and_top2_by_hand():
    evaluator = build_evaluator({"NAME": "ClassificationEvaluator", "TOPK": [1, 2]})
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    targets = torch.tensor([0, 2, 2, 1])
    evaluator.process(Identity(), {"input_data": scores, "target_data": targets})
    assert evaluator.evaluate() == {"accuracy": 0.5, "top2_accuracy": 1.0}


def test_classification_confusion_matrix_and_per_class_accuracy_match_sklearn():
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.normal(size=(40, 4)))
    targets = torch.from_numpy(rng.integers(0, 3, size=40))  # class 3 never occurs
    node = {"NAME": "ClassificationEvaluator", "PER_CLASS": True, "NUM_CLASSES": 4,
            "CLASS_NAMES": ["a", "b", "c", "d"]}
    evaluator, results = evaluate(node, [{"input_data": scores[:25], "target_data": targets[:25]},
                                         {"input_data": scores[25:], "target_data": targets[25:]}])
    expected = confusion_matrix(targets.numpy(), scores.argmax(1).numpy(), labels=range(4))
    np.testing.assert_array_equal(evaluator.confusion_matrix(), expected)
    recall = [expected[i, i] / expected[i].sum() for i in range(3)]
    same(results, {"accuracy": float((scores.argmax(1) == targets).double().mean()),
                   "accuracy_class_a": recall[0], "accuracy_class_b": recall[1],
                   "accuracy_class_c": recall[2], "accuracy_class_d": NAN,
                   "mean_class_accuracy": float(np.mean(recall))})


def test_classification_writes_the_confusion_matrix_png_only_with_an_output_dir(tmp_path):
    batch = {"input_data": torch.eye(3), "target_data": torch.tensor([0, 1, 1])}
    _, results = evaluate({"NAME": "ClassificationEvaluator"}, [batch], output_dir=str(tmp_path))
    image = cv2.imread(str(tmp_path / "confusion_matrix.png"))
    assert image is not None and image.shape[2] == 3 and results == {"accuracy": pytest.approx(2 / 3)}
    evaluate({"NAME": "ClassificationEvaluator"}, [batch], output_dir=None)
    assert os.listdir(tmp_path) == ["confusion_matrix.png"]


def test_classification_per_sample_predictions():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])
    evaluator, _ = evaluate({"NAME": "ClassificationEvaluator"},
                            [{"input_data": scores, "target_data": torch.tensor([1, 2])}], keep_predictions=True)
    assert evaluator.predictions() == [{"label": 1, "score": pytest.approx(0.7), "target": 1},
                                       {"label": 0, "score": pytest.approx(0.8), "target": 2}]
    json.dumps(evaluator.predictions())  # plain Python values


@pytest.mark.parametrize("node, batch, message", [
    ({"NUM_CLASSES": 4}, {"input_data": torch.zeros(2, 3), "target_data": torch.zeros(2)},
     "gives 3 scores per sample, num_classes is 4"),
    ({}, {"input_data": torch.zeros(2), "target_data": torch.zeros(2)},
     r"must return N x C scores, got a float32 tensor of shape \[2\]"),
    ({}, {"input_data": torch.zeros(2, 3), "target_data": torch.tensor([0, 3])}, r"targets must be in \[0, 3\)"),
    ({}, {"input_data": torch.zeros(2, 3), "target_data": torch.zeros(3)}, "2 score rows but 3 targets"),
])
def test_classification_bad_input(node, batch, message):
    evaluator = build_evaluator({"NAME": "ClassificationEvaluator", **node})
    with pytest.raises(EngineError, match=message):
        evaluator.process(Identity(), batch)


def test_class_names_must_fit_num_classes_and_predictions_need_keep_predictions():
    with pytest.raises(ConfigError, match="class_names has 2 names for num_classes=3"):
        build_evaluator({"NAME": "SegmentationEvaluator", "NUM_CLASSES": 3, "CLASS_NAMES": ["a", "b"]})
    evaluator, _ = evaluate({"NAME": "ClassificationEvaluator"},
                            [{"input_data": torch.eye(2), "target_data": torch.tensor([0, 1])}])
    with pytest.raises(EngineError, match="keep_predictions=True"):
        evaluator.predictions()
    with pytest.raises(EngineError, match="does not keep per-sample predictions"):
        build_evaluator({}).predictions()


# ------------------------------------------------------------------ segmentation
SEG = {"NAME": "SegmentationEvaluator", "NUM_CLASSES": 3}


def seg_batch(pred, target):
    return {"input_data": torch.tensor(pred), "target_data": torch.tensor(target)}


def test_segmentation_perfect_half_right_and_empty():
    target = [[[0, 0], [1, 2]]]
    _, perfect = evaluate(SEG, [seg_batch(target, target)])
    assert (perfect["mIoU"], perfect["pixel_acc"], perfect["mAcc"]) == (1.0, 1.0, 1.0)
    # class 0: 2 pixels, 1 right; class 1: 1 pixel, predicted 0; class 2 right; 1 predicted as 1 wrongly
    _, half = evaluate(SEG, [seg_batch([[[0, 1], [0, 2]]], target)])
    # IoU_0 = 1 / (2 + 2 - 1), IoU_1 = 0 / (1 + 1 - 0), IoU_2 = 1
    same(half, {"mIoU": (1 / 3 + 0 + 1) / 3, "pixel_acc": 0.5, "mAcc": (0.5 + 0 + 1) / 3,
                "IoU_class_0": 1 / 3, "IoU_class_1": 0.0, "IoU_class_2": 1.0})
    _, empty = evaluate(SEG, [])
    assert all(math.isnan(empty[k]) for k in ("mIoU", "pixel_acc", "mAcc", "IoU_class_0"))


def test_segmentation_ignore_index_and_classes_absent_from_the_ground_truth():
    # class 2 absent from the ground truth but predicted once: IoU 0, in the mean;
    # class 1 absent from both: NaN, left out; the 255 pixel counts nowhere
    target, pred = [[[0, 0], [0, 255]]], [[[0, 0], [2, 1]]]
    _, results = evaluate(SEG, [seg_batch(pred, target)])
    same(results, {"mIoU": (2 / 3 + 0) / 2, "pixel_acc": 2 / 3, "mAcc": 2 / 3,
                   "IoU_class_0": 2 / 3, "IoU_class_1": NAN, "IoU_class_2": 0.0})


def test_segmentation_from_scores_matches_sklearn_jaccard(tmp_path):
    rng = np.random.default_rng(1)
    target = rng.integers(0, 3, size=(2, 5, 6))
    scores = torch.from_numpy(rng.normal(size=(2, 3, 5, 6))).float()
    evaluator, results = evaluate(SEG, [{"input_data": scores, "target_data": torch.from_numpy(target)[:, None]}],
                                  keep_predictions=True, output_dir=str(tmp_path))
    pred = scores.argmax(1).numpy()
    iou = jaccard_score(target.ravel(), pred.ravel(), average=None, labels=[0, 1, 2])
    assert [results[f"IoU_class_{c}"] for c in range(3)] == pytest.approx(iou)
    assert results["mIoU"] == pytest.approx(iou.mean())
    assert results["pixel_acc"] == pytest.approx((pred == target).mean())
    masks = evaluator.predictions()
    assert len(masks) == 2 and all(np.array_equal(m["mask"], p) for m, p in zip(masks, pred))
    assert (tmp_path / "confusion_matrix.png").is_file()


@pytest.mark.parametrize("pred, target, message", [
    (torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), "4 class scores per pixel.*num_classes is 3"),
    (torch.zeros(1, 2, 3, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), r"differ in shape"),
    (torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 7), r"target labels .* must be in \[0, 3\)"),
    (torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), "N x C x H x W scores or N x H x W integer labels"),
])
def test_segmentation_bad_input(pred, target, message):
    with pytest.raises(EngineError, match=message):
        build_evaluator(SEG).process(Identity(), {"input_data": pred, "target_data": target})


def test_missing_batch_keys_are_named_with_the_keys_present():
    with pytest.raises(EngineError, match=r"\(set input_key/target_key\); the validation batch has \['image'\]"):
        build_evaluator({"NAME": "ClassificationEvaluator"}).process(Identity(), {"image": torch.zeros(1, 3)})
    with pytest.raises(EngineError, match=r"'input_data' and 'mask' \(set input_key/target_key\); "
                                          r"the validation batch has \['img', 'target_data'\]"):
        build_evaluator({**SEG, "TARGET_KEY": "mask"}).process(Identity(), {"img": 0, "target_data": 0})
    with pytest.raises(EngineError, match=r"\(set input_key/boxes_key/labels_key\).*\['input_data'\]"):
        build_evaluator(DET).process(Identity(), {"input_data": 0})


# ------------------------------------------------------------------ detection
DET = {"NAME": "DetectionEvaluator", "NUM_CLASSES": 3}


def det_batch(preds, gts):
    """preds: per image (boxes, scores, labels); gts: per image (boxes, labels)."""
    return {"input_data": [dict(boxes=np.array(b, float).reshape(-1, 4), scores=np.array(s, float),
                                labels=np.array(l, int)) for b, s, l in preds],
            "bbox": [np.array(b, float).reshape(-1, 4) for b, _ in gts],
            "labels": [np.array(l, int) for _, l in gts]}


def test_detection_hand_computed_ap():
    # image 0: class 0 predicted at IoU 0.62 with its one box: a hit at IoU thresholds
    # 0.50, 0.55, 0.60 only -> AP 1 there, 0 at the 7 others: AP 0.3.
    # image 1: two class-1 boxes, one found exactly: recall 1/2 at precision 1 at every
    # threshold -> AP = 51/101 (COCO's 101 recall points 0, 0.01, ..., 0.50 have precision 1).
    # class 2 has no ground truth: no AP, left out of the means.
    batch = det_batch(preds=[([[0, 0, 10, 6.2]], [0.9], [0]), ([[20, 20, 30, 30]], [0.8], [1])],
                      gts=[([[0, 0, 10, 10]], [0]), ([[20, 20, 30, 30], [0, 0, 5, 5]], [1, 1])])
    evaluator, results = evaluate(DET, [batch], keep_predictions=True)
    half = 51 / 101
    same(results, {"mAP": (0.3 + half) / 2, "mAP_50": (1 + half) / 2, "mAP_75": (0 + half) / 2,
                   "AP_class_0": 0.3, "AP_class_1": half, "AP_class_2": NAN})
    assert [p["labels"].tolist() for p in evaluator.predictions()] == [[0], [1]]


def test_detection_false_positive_on_an_image_without_ground_truth_and_no_predictions():
    # the false positive (image without ground truth) outranks the hit: precision 1/2 at recall 1
    batch = det_batch(preds=[([[0, 0, 8, 8]], [0.5], [0]), ([[1, 1, 4, 4]], [0.9], [0])],
                      gts=[([[0, 0, 8, 8]], [0]), ([], [])])
    _, results = evaluate(DET, [batch])
    assert results["mAP"] == pytest.approx(0.5) and results["AP_class_0"] == pytest.approx(0.5)
    _, nothing_found = evaluate(DET, [det_batch(preds=[([], [], [])], gts=[([[0, 0, 8, 8]], [2])])])
    assert nothing_found["mAP"] == 0.0 and nothing_found["AP_class_2"] == 0.0
    _, no_truth = evaluate(DET, [det_batch(preds=[([[0, 0, 8, 8]], [0.5], [0])], gts=[([], [])])])
    assert math.isnan(no_truth["mAP"]) and math.isnan(no_truth["mAP_50"])


def random_detection_set(rng, images=6, classes=3):
    preds, gts = [], []
    for _ in range(images):
        m = int(rng.integers(0, 4))
        xy = rng.uniform(0, 50, size=(m, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 30, size=(m, 2))], axis=1)
        labels = rng.integers(0, classes, size=m)
        jitter = boxes + rng.normal(0, 2, size=boxes.shape)
        extra = int(rng.integers(0, 3))  # false positives
        fxy = rng.uniform(0, 50, size=(extra, 2))
        pb = np.concatenate([jitter, np.concatenate([fxy, fxy + 10], axis=1)])
        pl = np.concatenate([labels, rng.integers(0, classes, size=extra)])
        preds.append((pb, rng.uniform(0.1, 1, size=len(pb)), pl))
        gts.append((boxes, labels))
    return preds, gts


def test_detection_matches_pycocotools_on_the_same_data(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    preds, gts = random_detection_set(np.random.default_rng(3))
    first = det_batch(preds[:4], gts[:4])
    # boxes that carry their class id as a 5th column (as the transforms allow): ignored
    first["bbox"] = [np.concatenate([b, l[:, None]], axis=1) for b, l in zip(first["bbox"], first["labels"])]
    _, results = evaluate(DET, [first, det_batch(preds[4:], gts[4:])])
    # the same data written as COCO files and read the documented way (COCO(file), loadRes)
    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]  # noqa: E731
    anns = []
    for image_id, (boxes, labels) in enumerate(gts):
        for box, label in zip(boxes, labels):
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(label), "bbox": xywh(box),
                         "area": xywh(box)[2] * xywh(box)[3], "iscrowd": 0})
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": [{"id": i} for i in range(len(gts))], "annotations": anns,
                                "categories": [{"id": c} for c in range(3)]}))
    coco_gt = COCO(str(path))
    coco_dt = coco_gt.loadRes([{"image_id": i, "category_id": int(l), "bbox": xywh(b), "score": float(s)}
                               for i, (bs, ss, ls) in enumerate(preds) for b, s, l in zip(bs, ss, ls)])
    reference = COCOeval(coco_gt, coco_dt, "bbox")
    reference.evaluate(), reference.accumulate(), reference.summarize()
    assert 0.2 < reference.stats[0] < 0.9  # a case that tells right from wrong
    assert [results["mAP"], results["mAP_50"], results["mAP_75"]] == pytest.approx(reference.stats[:3])
    for c in range(3):
        p = reference.eval["precision"][:, :, c, 0, -1]
        assert results[f"AP_class_{c}"] == pytest.approx(p[p > -1].mean())


@pytest.mark.parametrize("change, message", [
    (lambda b: b.update(input_data=torch.zeros(1, 4)), "must return a list with one dict"),
    (lambda b: b["input_data"][0].update(boxes=np.zeros((1, 3))), r"predicted boxes must be K x 4 .*\[1, 3\]"),
    (lambda b: b["input_data"][0].pop("scores"), r"lacks \['scores'\]"),
    (lambda b: b.update(labels=[np.array([5])]), r"ground-truth labels must be in \[0, 3\) \(num_classes\)"),
    (lambda b: b.update(bbox=[]), "1 predictions, 0 entries in 'bbox'"),
])
def test_detection_bad_input(change, message):
    batch = det_batch(preds=[([[0, 0, 8, 8]], [0.5], [0])], gts=[([[0, 0, 8, 8]], [0])])
    change(batch)
    with pytest.raises(EngineError, match=message):
        build_evaluator(DET).process(Identity(), batch)


# ------------------------------------------------------------------ retrieval
RET = {"NAME": "RetrievalEvaluator"}


def test_retrieval_matches_sklearn_roc_and_a_brute_force_nearest_neighbour():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, size=60)
    centres = rng.normal(size=(5, 8))
    embeddings = centres[labels] * 0.7 + rng.normal(size=(60, 8))
    batches = [{"input_data": torch.tensor(embeddings[i:i + 16], dtype=torch.float32),
                "target_data": torch.tensor(labels[i:i + 16])} for i in range(0, 60, 16)]
    evaluator, results = evaluate({**RET, "FPRS": [0.01, 0.001, 0.2]}, batches, keep_predictions=True)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    i, j = np.triu_indices(60, 1)
    fpr, tpr, _ = roc_curve(labels[i] == labels[j], similarity[i, j], drop_intermediate=False)
    for target in (0.01, 0.001, 0.2):
        assert results[f"tpr_at_fpr_{target:g}"] == pytest.approx(tpr[fpr <= target].max(), abs=1e-12)
    assert 0 < results["tpr_at_fpr_0.01"] < results["tpr_at_fpr_0.2"] < 1
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(1)
    assert results["top1_accuracy"] == pytest.approx((labels[nearest] == labels).mean())
    assert [p["nearest"] for p in evaluator.predictions()] == nearest.tolist()


def test_tpr_at_fpr_with_tied_scores_matches_sklearn():
    rng = np.random.default_rng(5)
    scores = np.round(rng.uniform(size=400), 1)  # many ties
    positive = rng.uniform(size=400) < scores
    fpr, tpr, _ = roc_curve(positive, scores, drop_intermediate=False)
    got = tpr_at_fpr(torch.from_numpy(scores), torch.from_numpy(positive), [0.01, 0.1, 0.5])
    assert got == pytest.approx([tpr[fpr <= t].max() for t in (0.01, 0.1, 0.5)])


def test_retrieval_perfect_and_degenerate_sets():
    embeddings = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    _, perfect = evaluate(RET, [{"input_data": embeddings, "target_data": torch.tensor([0, 0, 1, 1])}])
    assert perfect == {"tpr_at_fpr_0.01": 1.0, "tpr_at_fpr_0.001": 1.0, "top1_accuracy": 1.0}
    _, one_label = evaluate(RET, [{"input_data": embeddings, "target_data": torch.zeros(4)}])
    assert math.isnan(one_label["tpr_at_fpr_0.01"]) and one_label["top1_accuracy"] == 1.0  # no negative pair
    _, empty = evaluate(RET, [])
    assert all(math.isnan(v) for v in empty.values())


def test_retrieval_bad_input():
    with pytest.raises(EngineError, match="must return N x D embeddings, got a float32 tensor of shape \\[3\\]"):
        build_evaluator(RET).process(Identity(), {"input_data": torch.zeros(3), "target_data": torch.zeros(3)})
    with pytest.raises(EngineError, match="3 embeddings but 2 labels"):
        build_evaluator(RET).process(Identity(), {"input_data": torch.zeros(3, 2), "target_data": torch.zeros(2)})
    with pytest.raises(ConfigError, match=r"fprs must be in \(0, 1\)"):
        build_evaluator({**RET, "FPRS": [1.5]})


# ------------------------------------------------------------------ 2 ranks
class ThreadRanks:
    """The collectives of ``engine.utils.comm`` for ranks that are threads of this
    process: each rank writes its object, all wait, each reads all (a real all_gather)."""

    def __init__(self, world_size):
        self.world_size = world_size
        self.barrier = threading.Barrier(world_size, timeout=20)
        self.slots = [None] * world_size
        self.local = threading.local()

    def all_gather_object(self, obj):
        self.slots[self.local.rank] = obj
        self.barrier.wait()
        gathered = list(self.slots)
        self.barrier.wait()
        return gathered

    def all_reduce_sum(self, values):
        return [float(sum(column)) for column in zip(*self.all_gather_object([float(v) for v in values]))]

    def install(self, monkeypatch):
        for name in ("all_gather_object", "all_reduce_sum"):
            monkeypatch.setattr(comm, name, getattr(self, name))
        monkeypatch.setattr(comm, "get_rank", lambda: self.local.rank)
        monkeypatch.setattr(comm, "is_main_process", lambda: self.local.rank == 0)
        monkeypatch.setattr(comm, "get_world_size", lambda: self.world_size)
        monkeypatch.setattr(comm, "is_distributed", lambda: True)

    def run(self, work):
        """``work(rank)`` in each rank's thread; the results in rank order."""
        results, errors = [None] * self.world_size, []

        def target(rank):
            self.local.rank = rank
            try:
                results[rank] = work(rank)
            except BaseException as e:  # noqa: BLE001  (re-raised below)
                errors.append(e)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.world_size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


def _sets():
    rng = np.random.default_rng(6)
    scores, targets = torch.from_numpy(rng.normal(size=(10, 4))), torch.from_numpy(rng.integers(0, 4, 10))
    masks = torch.from_numpy(rng.integers(0, 3, size=(6, 4, 4)))
    seg_scores = torch.from_numpy(rng.normal(size=(6, 3, 4, 4)))
    preds, gts = random_detection_set(rng)
    emb = torch.from_numpy(rng.normal(size=(12, 3))).float()
    ids = torch.from_numpy(rng.integers(0, 3, 12))

    def split(batch, sizes):
        out, start = [], 0
        for size in sizes:
            out.append({k: v[start:start + size] for k, v in batch.items()})
            start += size
        return out

    return {
        "classification": ({"NAME": "ClassificationEvaluator", "PER_CLASS": True, "TOPK": [1, 2]},
                           split({"input_data": scores, "target_data": targets}, [3, 3, 4])),
        "segmentation": (SEG, split({"input_data": seg_scores, "target_data": masks}, [2, 2, 2])),
        "detection": (DET, split(det_batch(preds, gts), [2, 2, 2])),
        "retrieval": (RET, split({"input_data": emb, "target_data": ids}, [4, 4, 4])),
    }


@pytest.mark.parametrize("task", ["classification", "segmentation", "detection", "retrieval"])
@pytest.mark.parametrize("shards", [(1, 2), (3, 0)], ids=["1+2 batches", "3+0 batches"])
def test_two_ranks_report_what_one_process_does(task, shards, monkeypatch):
    """Each rank evaluates its contiguous shard of the batches (one may be empty); every
    rank's results and gathered per-sample outputs equal one process's over all batches."""
    node, batches = _sets()[task]
    single, alone = evaluate(node, batches, keep_predictions=True)
    ranks = ThreadRanks(2)
    ranks.install(monkeypatch)
    parts = [batches[:shards[0]], batches[shards[0]:]]

    def work(rank):
        evaluator, results = evaluate(node, parts[rank], keep_predictions=True)
        return results, evaluator.predictions()

    for results, predictions in ranks.run(work):
        same(results, alone)
        assert len(predictions) == len(single.predictions())
        for got, want in zip(predictions, single.predictions()):
            assert got.keys() == want.keys()
            for key in got:
                np.testing.assert_array_equal(got[key], want[key])
