import logging
import os

import cv2
import numpy as np
import torch

from engine.trainer.trainer import BaseTrainer
from engine.trainer.build import BUILD_TRAINER_REGISTRY
import engine.comm as comm


@BUILD_TRAINER_REGISTRY.register()
class SegTrainer(BaseTrainer):
    def __init__(self, cfg):
        super(SegTrainer, self).__init__(cfg)
        self.evaluations = []
        return

    def iterate_after(self, epoch):
        if int(epoch + 0.5) % self.checkpoint.check_period == 0 or epoch == self.max_iter - 1:
            miou = self.test(epoch)
            self.evaluations.append(epoch)
            logging.getLogger(self.default_log_name).info('epoch {} miou {:.4f}'.format(epoch, miou))
            if comm.is_main_process():
                with open(os.path.join(self.output, 'evaluations.txt'), 'a') as f:
                    f.write('{} {:.6f}\n'.format(epoch, miou))
        return

    def test(self, epoch):
        self.model.disable_train()
        inter = np.zeros(2)
        union = np.zeros(2)
        with torch.no_grad():
            for data in self.test_data_loader:
                pred = self.model(data).cpu().numpy()
                gt = data['gt_semantic_seg'][:, 0].numpy()
                for c in range(2):
                    inter[c] += np.logical_and(pred == c, gt == c).sum()
                    union[c] += np.logical_or(pred == c, gt == c).sum()
        self.model.enable_train()
        return float(np.mean(inter / np.maximum(union, 1)))

    def after_loop(self):
        self.model.disable_train()
        save_dir = os.path.join(self.output, 'pictures')
        os.makedirs(save_dir, exist_ok=True)
        with torch.no_grad():
            data = next(iter(self.test_data_loader))
            pred = self.model(data).cpu().numpy()
        names = self.test_data_loader.dataset.to_lines(range(len(pred)))
        for i, name in enumerate(names):
            out = os.path.join(save_dir, os.path.basename(name.split(',')[0]))
            cv2.imwrite(out, (pred[i] * 255).astype(np.uint8))
        logging.getLogger(self.default_log_name).info('draw {} pictures in {}'.format(len(names), save_dir))
        return
