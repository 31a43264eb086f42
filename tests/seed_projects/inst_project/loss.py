import torch
import torch.nn.functional as F

from engine.loss.build import LOSS_ARCH_REGISTRY


@LOSS_ARCH_REGISTRY.register()
class SigmoidFocalLoss(torch.nn.Module):
    """The project's own focal loss (RetinaNet's), written for the wheel's registry."""

    def __init__(self, lambda_weight=1., gamma=2.0, alpha=0.25, reduction='mean', apply_sigmoid=True):
        super(SigmoidFocalLoss, self).__init__()
        assert reduction in ('none', 'mean', 'sum') and apply_sigmoid
        self.lambda_weight = lambda_weight
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction

    def forward(self, pred, target):
        p = torch.sigmoid(pred)
        ce = F.binary_cross_entropy_with_logits(pred, target, reduction='none')
        p_t = p * target + (1 - p) * (1 - target)
        loss = ce * ((1 - p_t) ** self.gamma)
        loss = (self.alpha * target + (1 - self.alpha) * (1 - target)) * loss
        if self.reduction == 'mean':
            loss = loss.mean()
        elif self.reduction == 'sum':
            loss = loss.sum()
        return self.lambda_weight * loss
