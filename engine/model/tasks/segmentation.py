"""Semantic segmentation: per-pixel cross-entropy, over torchvision's segmentation models
(``{'out': N x C x H x W, 'aux': ...}``) or any network giving N x C x h x w scores."""
import numpy as np
import torch
from torch.nn import functional as F

from ..base_model import BaseModel
from ..build import BUILD_MODEL_REGISTRY
from .common import batch_tensor, loss_options, main_output

__all__ = ["SegmentationModel"]


def _resized(scores: torch.Tensor, size) -> torch.Tensor:
    """Scores at the label map's size (bilinear), for networks that give them smaller."""
    if tuple(scores.shape[-2:]) == tuple(size):
        return scores
    return F.interpolate(scores, size=tuple(size), mode="bilinear", align_corners=False)


@BUILD_MODEL_REGISTRY.register()
class SegmentationModel(BaseModel):
    """``generator(images)`` gives N x C x H x W scores at the input's size (what
    ``SegmentationEvaluator`` scores); training minimises the per-pixel cross-entropy
    against ``target_data`` (N x H x W class indices), pixels labelled ``ignore_index``
    left out, plus ``aux_weight`` x that of an auxiliary head (torchvision's ``aux_loss``).

    ``trainer.model.loss`` (optional): ``ignore_index`` (255, as the evaluator),
    ``aux_weight`` (0.5), ``label_smoothing`` (0.0).
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        options = loss_options(cfg, {"ignore_index": 255, "aux_weight": 0.5, "label_smoothing": 0.0},
                               "SegmentationModel")
        self.ignore_index = int(options["ignore_index"])
        self.aux_weight = float(options["aux_weight"])
        self.label_smoothing = float(options["label_smoothing"])

    def _loss(self, scores, target):
        return F.cross_entropy(_resized(scores, target.shape[-2:]), target, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)

    def run_step(self, data, *, epoch=None, **kwargs):
        images = batch_tensor(data, "input_data", "SegmentationModel", self.device)
        target = batch_tensor(data, "target_data", "SegmentationModel", self.device).long()
        if target.dim() == 4 and target.shape[1] == 1:
            target = target[:, 0]
        scores, aux = main_output(self.g_model(images), "SegmentationModel")
        losses = {"seg": self._loss(scores, target)}
        if aux is not None and self.aux_weight:
            losses["aux"] = self.aux_weight * self._loss(aux, target)
        return losses

    def generator(self, data):
        images = data.to(self.device, non_blocking=True)
        return _resized(main_output(self.g_model(images), "SegmentationModel")[0], images.shape[-2:])

    def postprocess(self, outputs: torch.Tensor):
        """One ``{'mask'}`` per image: the H x W label map (uint8 up to 256 classes), as
        ``SegmentationEvaluator`` keeps it."""
        dtype = np.uint8 if outputs.shape[1] <= 256 else np.int32
        return [{"mask": m.astype(dtype)} for m in outputs.argmax(dim=1).cpu().numpy()]
