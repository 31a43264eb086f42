"""The GAN bundle of the digits example: the non-saturating GAN loss.

The base class runs the D step, then (every ``trainer.model.g_step`` iterations) the G
step; while one network trains the other does not track gradients, so nothing here
needs ``detach()`` or ``torch.no_grad()``.
"""
import torch
import torch.nn.functional as F

from engine.model.build import BUILD_MODEL_REGISTRY
from engine.model.gan_model import BaseGanModel

__all__ = ["DigitsGan"]


@BUILD_MODEL_REGISTRY.register()
class DigitsGan(BaseGanModel):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.z_dim = self.unwrapped("g_model").z_dim

    def sample_z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device)

    def dmodel_step(self, data, *, epoch=None):
        real = data["input_data"].to(self.device, non_blocking=True)
        fake = self.g_model(self.sample_z(real.shape[0]))
        # -log(sigmoid(D(real))) and -log(1 - sigmoid(D(fake)))
        return {"d_real": F.softplus(-self.d_model(real)).mean(),
                "d_fake": F.softplus(self.d_model(fake)).mean()}

    def gmodel_step(self, data, *, epoch=None):
        fake = self.g_model(self.sample_z(data["input_data"].shape[0]))
        return {"g_adv": F.softplus(-self.d_model(fake)).mean()}  # -log(sigmoid(D(G(z))))

    def generator(self, data):
        """``data``: latent vectors (N x z_dim), or a number of images to sample."""
        z = self.sample_z(int(data)) if isinstance(data, int) else data.to(self.device)
        return self.g_model(z)
