import torch

from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY
from engine.loss.pipe import LossKeyCompose

@BUILD_MODEL_REGISTRY.register()
class MyModel(BaseModel):
    def __init__(self, cfg):
        super(MyModel, self).__init__(cfg)
        self.loss = LossKeyCompose(cfg.TRAINER.LOSS)
        return

    def create_model(self, params) -> torch.nn.Module:
        """
        根据自身情况考虑是否实现，推荐不实现，使用默认的
        """
        return

    def run_step(self, data, *, epoch=None, **kwargs):
        """
        此方法必须实现
        """
        input_data = data['input_data'].to(self.device, non_blocking=True)
        target_data = data['target_data'].to(self.device, non_blocking=True)

        fake_data = self.g_model(input_data)
        
        loss = self.loss((fake_data, target_data))

        return loss

    def generator(self, data):
        """
        此方法必须实现
        """
        scores = self.g_model(data.to(self.device, non_blocking=True))

        return scores
