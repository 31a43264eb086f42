import os
import sys

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.build import BUILD_DATASET_REGISTRY
from engine.transforms.pipe import TransformCompose

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from codes.digits_scenes.scenes import make_scene  # noqa: E402  (the data: one digit per scene)


@BUILD_DATASET_REGISTRY.register()
class DigitBoxes(Dataset):
    def __init__(self, split, num, transformer, img_size=48):
        super(DigitBoxes, self).__init__()
        self.split = split
        self.num = num
        self.img_size = img_size
        self.transformer = TransformCompose(transformer)

    def __getitem__(self, index):
        scene = make_scene(index, self.split, size=self.img_size, max_digits=1, min_scale=16, max_scale=28)
        results = dict(img=scene['img'], gt_bboxes=scene['bbox'], gt_labels=scene['labels'],
                       color_fields=['img'], img_fields=['img'], bbox_fields=['gt_bboxes'])
        results = self.transformer(results)
        img = torch.from_numpy(np.ascontiguousarray(results['img'].transpose(2, 0, 1))).float()
        return dict(img=img, gt_bboxes=torch.from_numpy(results['gt_bboxes']).float(),
                    gt_labels=torch.from_numpy(results['gt_labels']).long())

    def __len__(self):
        return self.num


def detection_collate(batch):
    return dict(img=torch.stack([b['img'] for b in batch]),
                gt_bboxes=[b['gt_bboxes'] for b in batch],
                gt_labels=[b['gt_labels'] for b in batch])
