from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY


@BUILD_MODEL_REGISTRY.register()
class InstModel(BaseModel):
    def __init__(self, cfg):
        super(InstModel, self).__init__(cfg)
        return

    def run_step(self, data, *, epoch=None, **kwargs):
        img = data['img'].to(self.device, non_blocking=True)
        gt_masks = [mask.to(self.device, non_blocking=True) for mask in data['gt_masks']]
        gt_labels = [label.to(self.device, non_blocking=True) for label in data['gt_labels']]
        return self.g_model.forward_train(img, gt_labels, gt_masks)

    def generator(self, data):
        img = data['img'].to(self.device, non_blocking=True)
        return self.g_model(img)
