import torch
import torch.nn.functional as F

from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY


@BUILD_MODEL_REGISTRY.register()
class DetModel(BaseModel):
    def __init__(self, cfg):
        super(DetModel, self).__init__(cfg)
        return

    def run_step(self, data, *, epoch=None, **kwargs):
        img = data['img'].to(self.device)
        boxes = torch.stack([b[0] for b in data['gt_bboxes']]).to(self.device)
        labels = torch.stack([l[0] for l in data['gt_labels']]).to(self.device)
        pred_boxes, logits = self.g_model(img)
        return dict(box_loss=F.smooth_l1_loss(pred_boxes, boxes) * 0.1, cls_loss=F.cross_entropy(logits, labels))

    def generator(self, data):
        pred_boxes, logits = self.g_model(data['img'].to(self.device))
        return pred_boxes, logits.argmax(dim=1)
