import json
import logging
import os


from engine.trainer.trainer import BaseTrainer
from engine.trainer.build import BUILD_TRAINER_REGISTRY
import engine.comm as comm
from torchvision.ops import box_iou

from .dataset import detection_collate


@BUILD_TRAINER_REGISTRY.register()
class DetTrainer(BaseTrainer):
    def set_collate_fn(self, cfg):
        self.collate_train_fn = detection_collate
        self.collate_valid_fn = detection_collate

    def after_loop(self):
        self.model.disable_train()
        ious, hits = [], []
        for data in self.test_data_loader:
            boxes, labels = self.model(data)
            for i in range(len(boxes)):
                ious.append(box_iou(boxes[i:i + 1].cpu(), data['gt_bboxes'][i]).max().item())
                hits.append(int(labels[i].item() == data['gt_labels'][i][0].item()))
        self.model.enable_train()
        result = dict(mean_iou=sum(ious) / len(ious), accuracy=sum(hits) / len(hits))
        logging.getLogger(self.default_log_name).info('test {}'.format(result))
        if comm.is_main_process():
            with open(os.path.join(self.output, 'test_result.json'), 'w') as f:
                json.dump(result, f)
