"""Image classification: cross-entropy on the network's logits."""
import torch
from torch.nn import functional as F

from ..base_model import BaseModel
from ..build import BUILD_MODEL_REGISTRY
from .common import batch_tensor, loss_options, main_output

__all__ = ["ClassificationModel"]


@BUILD_MODEL_REGISTRY.register()
class ClassificationModel(BaseModel):
    """``generator(images)`` gives N x C logits (what ``ClassificationEvaluator`` scores);
    training minimises their cross-entropy against ``target_data`` (class indices).

    ``trainer.model.loss`` (optional): ``label_smoothing`` (0.0), ``aux_weight`` (0.4, the
    weight of an auxiliary head's loss: torchvision's Inception v3 / GoogLeNet in training).
    Any network giving N x C logits fits: ``torchvision.resnet18``, ``timm.<name>``, your own.
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        options = loss_options(cfg, {"label_smoothing": 0.0, "aux_weight": 0.4}, "ClassificationModel")
        self.label_smoothing = float(options["label_smoothing"])
        self.aux_weight = float(options["aux_weight"])

    def run_step(self, data, *, epoch=None, **kwargs):
        images = batch_tensor(data, "input_data", "ClassificationModel", self.device)
        targets = batch_tensor(data, "target_data", "ClassificationModel", self.device).long().reshape(-1)
        logits, aux = main_output(self.g_model(images), "ClassificationModel")
        losses = {"cls": F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)}
        if aux is not None and self.aux_weight:
            losses["aux"] = self.aux_weight * F.cross_entropy(aux, targets, label_smoothing=self.label_smoothing)
        return losses

    def generator(self, data):
        return main_output(self.g_model(data.to(self.device, non_blocking=True)), "ClassificationModel")[0]

    def postprocess(self, outputs: torch.Tensor):
        """One ``{'label', 'score'}`` per sample: the top-1 class and its logit, as
        ``ClassificationEvaluator`` keeps them."""
        scores, labels = outputs.max(dim=1)
        return [{"label": int(label), "score": float(score)} for label, score in zip(labels.tolist(), scores.tolist())]
