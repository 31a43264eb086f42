"""Object detection over torchvision's detection models (Faster/Mask R-CNN, RetinaNet,
FCOS, SSD): the network computes its own losses from ``(images, targets)`` in training
mode and gives decoded, NMS-filtered boxes in eval mode.

Labels: the datasets number classes from 0 (``CocoDataset``: ``classes[i]``), as
``DetectionEvaluator`` does; torchvision keeps 0 for the background. The bundle adds 1
going in and takes it off coming out, so torchvision's ``num_classes`` counts the
background: give it the dataset's number of classes + 1.
"""
from contextlib import contextmanager
from typing import List, Optional

import torch
from torch import nn

from ...utils.errors import EngineError
from ..base_model import BaseModel
from ..build import BUILD_MODEL_REGISTRY
from .common import batch_tensor, loss_options

__all__ = ["DetectionModel", "detector_num_classes"]

#: layers whose eval-mode behaviour a validation loss must keep (no statistics updated)
_KEEP_EVAL = (nn.modules.batchnorm._NormBase, nn.Dropout, nn.Dropout2d)


def detector_num_classes(network: nn.Module) -> Optional[int]:
    """The classes (background included) a torchvision detector scores; None if unknown."""
    for path in ("roi_heads.box_predictor.cls_score.out_features", "head.classification_head.num_classes",
                 "head.classification_head.num_columns"):
        value = network
        for attr in path.split("."):
            value = getattr(value, attr, None)
        if isinstance(value, int):
            return value
    return None


@contextmanager
def _losses_mode(network: nn.Module):
    """torchvision's detectors give losses only in training mode. For a validation loss
    (``LossEvaluator``) every module but normalisation and dropout switches to training
    mode, so no BatchNorm statistics change, and the random numbers the box samplers draw
    come from a forked generator, so evaluating leaves the training stream as it was."""
    modes = [(m, m.training) for m in network.modules()]
    devices = [d for d in {p.device for p in network.parameters()} if d.type == "cuda"]
    try:
        with torch.random.fork_rng(devices=[d.index or 0 for d in devices]):
            for module, _ in modes:
                module.train(not isinstance(module, _KEEP_EVAL))
            yield
    finally:
        for module, mode in modes:
            module.training = mode


@BUILD_MODEL_REGISTRY.register()
class DetectionModel(BaseModel):
    """Batches as ``CocoDataset`` collates them: ``input_data`` (N x C x H x W, values in
    [0, 1]: torchvision's detectors normalise and resize themselves, set ``min_size`` /
    ``max_size`` / ``image_mean`` / ``image_std`` in the generator's keys), ``bbox`` (one
    M x 4 x1, y1, x2, y2 tensor per image) and ``labels`` (M class indices per image).
    Boxes without area are dropped before the network sees them (torchvision refuses them).

    ``generator(images)`` gives one ``dict(boxes, scores, labels)`` per image, boxes in
    the input's pixels, labels from 0: what ``DetectionEvaluator`` reads.
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        loss_options(cfg, {}, "DetectionModel")  # the network's own losses: no option to give
        self._num_classes = detector_num_classes(self.unwrapped("g_model"))

    def _targets(self, data) -> List[dict]:
        boxes, labels = data.get("bbox"), data.get("labels")
        if boxes is None or labels is None:
            batch_tensor(data, "bbox" if boxes is None else "labels", "DetectionModel", self.device)
        targets = []
        for b, lab in zip(boxes, labels):
            b = torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4).to(self.device)
            lab = torch.as_tensor(lab, dtype=torch.int64).reshape(-1).to(self.device)
            keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            targets.append({"boxes": b[keep], "labels": lab[keep] + 1})
        self._check_labels(targets)
        return targets

    def _check_labels(self, targets) -> None:
        """A label the network cannot score is one error saying why (the background), not
        an index error deep inside torchvision's losses."""
        count = self._num_classes
        top = max((int(t["labels"].max()) for t in targets if len(t["labels"])), default=0)
        if count is not None and top >= count:
            raise EngineError(f"DetectionModel: class index {top - 1} needs num_classes >= {top + 1} in "
                              f"trainer.model.generator (torchvision counts the background as class 0: "
                              f"give the dataset's number of classes + 1), got {count}")

    def run_step(self, data, *, epoch=None, **kwargs):
        images = list(batch_tensor(data, "input_data", "DetectionModel", self.device))
        targets = self._targets(data)
        if self.g_model.training:
            return self.g_model(images, targets)
        with _losses_mode(self.g_model):  # validation loss (LossEvaluator)
            return self.g_model(images, targets)

    def generator(self, data):
        outputs = self.g_model(list(data.to(self.device, non_blocking=True)))
        return [{"boxes": o["boxes"], "scores": o["scores"], "labels": o["labels"] - 1} for o in outputs]

    def postprocess(self, outputs):
        """The generator's outputs are decoded already: one dict per image, as numpy."""
        return [{k: v.detach().cpu().numpy() for k, v in o.items()} for o in outputs]
