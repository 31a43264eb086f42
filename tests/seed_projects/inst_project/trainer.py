import json
import logging
import os

import cv2
import numpy as np
import torch

import engine.comm as comm
import engine.transforms.functional as F
from engine.trainer.build import BUILD_TRAINER_REGISTRY
from engine.trainer.trainer import BaseTrainer


def pad(img_list, max_size):
    batch_shape = [len(img_list)] + list(img_list[0].shape[:-2]) + max_size
    pad_images = img_list[0].new_full(batch_shape, 0.0)
    for img, pad_image in zip(img_list, pad_images):
        pad_image[..., 0: img.shape[-2], 0: img.shape[-1]].copy_(img)
    return pad_images


def collate(batch):
    """Images padded to the largest of the batch, everything else as lists (SDDet's)."""
    return_collect = dict()
    for k in batch[0]:
        collect = [d[k] for d in batch]
        if k == 'img':
            size = torch.stack([torch.as_tensor(im.shape[-2:]) for im in collect])
            return_collect[k] = pad(collect, size.max(0).values.numpy().tolist())
        else:
            return_collect[k] = collect
    return return_collect


def mask_iou(pred, gt):
    inter = np.logical_and(pred, gt).sum()
    union = np.logical_or(pred, gt).sum()
    return inter / union if union else 0.0


@BUILD_TRAINER_REGISTRY.register()
class InstTrainer(BaseTrainer):

    def __init__(self, cfg):
        super(InstTrainer, self).__init__(cfg)
        return

    def set_collate_fn(self, cfg):
        self.collate_train_fn = collate
        self.collate_valid_fn = collate
        return

    def after_loop(self):
        """Draws each test image with its predicted masks and measures the best mask IoU
        of every ground-truth instance."""
        self.model.disable_train()
        ious = list()
        for i, batch in enumerate(self.test_data_loader):
            with torch.no_grad():
                result = self.model(batch)
            for b in range(len(result)):
                img_norm_cfg = batch['img_meta'][b]['img_norm_cfg']
                h, w = batch['img_meta'][b]['img_shape']
                show = F.denormalize(batch['img'][b].permute(1, 2, 0).numpy(), img_norm_cfg['mean'], img_norm_cfg['std'])
                show = np.clip(show, 0, 255).astype(np.uint8)[:h, :w]
                pred = result[b]['masks'][:, :h, :w].cpu().numpy()
                for mask in pred:
                    show[mask] = show[mask] // 2 + 127
                for gt in batch['gt_masks'][b].numpy().astype(bool):
                    ious.append(max([mask_iou(p, gt) for p in pred], default=0.0))
                if comm.is_main_process():
                    cv2.imwrite(f'{self.output}/{i}-{b}.png', show)
        self.model.enable_train()
        result = dict(mask_iou=float(np.mean(ious)), instances=len(ious))
        logging.getLogger(self.default_log_name).info('test {}'.format(result))
        if comm.is_main_process():
            with open(os.path.join(self.output, 'test_result.json'), 'w') as f:
                json.dump(result, f)
        return
