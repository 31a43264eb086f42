import torch
import torch.nn.functional as F

from engine.model.build import BUILD_MODEL_REGISTRY
from engine.model.gan_model import BaseGanModel


@BUILD_MODEL_REGISTRY.register()
class DigitsGanModel(BaseGanModel):
    def __init__(self, cfg):
        super(DigitsGanModel, self).__init__(cfg)
        self.z_dim = cfg.TRAINER.MODEL.GENERATOR.Z_DIM

    def dmodel_step(self, data, epoch=None, **kwargs):
        real = data['img'].to(self.device)
        fake = self.g_model(torch.randn(real.shape[0], self.z_dim, device=self.device)).detach()
        d_out = self.dmodel_forward(dict(x=torch.cat([real, fake], dim=0)))
        logits = d_out[self.DEFAULT_DMODEL_NAME]
        target = torch.cat([torch.ones(real.shape[0], 1), torch.zeros(real.shape[0], 1)]).to(self.device)
        return {self.DEFAULT_DMODEL_NAME: F.binary_cross_entropy_with_logits(logits, target)}

    def gmodel_step(self, data, epoch=None, **kwargs):
        fake = self.g_model(torch.randn(data['img'].shape[0], self.z_dim, device=self.device))
        logits = self.dmodel_forward(dict(x=fake))[self.DEFAULT_DMODEL_NAME]
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def generator(self, data):
        return self.g_model(data.to(self.device))
