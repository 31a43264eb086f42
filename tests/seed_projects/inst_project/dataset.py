import os
import sys

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.build import BUILD_DATASET_REGISTRY
from engine.data.dataset import EngineDataSet
import engine.transforms.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from codes.digits_scenes.scenes import make_scene  # noqa: E402  (the data: digits on a background)


@BUILD_DATASET_REGISTRY.register()
class SceneConcat(Dataset):
    """Several DigitInstances sets, each with its own pipeline (SDDet's ConcatDataset)."""

    def __init__(self, transformer, parts, size=48):
        super(SceneConcat, self).__init__()
        self.datasets, start = list(), 0
        for split, num in parts:
            self.datasets.append(DigitInstances(transformer, split, num, size, start))
            start += num
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, idx):
        k = int(np.searchsorted(self.cumulative_sizes, idx, side='right'))
        return self.datasets[k][idx - (0 if k == 0 else int(self.cumulative_sizes[k - 1]))]


class DigitInstances(EngineDataSet):
    """One digit scene per index, cropped to a width that depends on the index (so the
    keep-ratio Resize and Pad32 give images of several shapes), one mask per digit."""

    def __init__(self, transformer, split, num, size, start):
        super(DigitInstances, self).__init__(transformer)
        self.split, self.num, self.size, self.start = split, num, size, start

    def __len__(self):
        return self.num

    def __getitem__(self, idx):
        scene = make_scene(self.start + idx, self.split, size=self.size, max_digits=2, min_scale=12, max_scale=20)
        width = self.size - 8 * (idx % 3)
        keep = scene['bbox'][:, 2] <= width
        return self.pipeline(scene, width, keep)

    def pipeline(self, scene, width, keep):
        """The project's own method named ``pipeline``, as SDDet's CocoDataset has."""
        results = dict(img=np.ascontiguousarray(scene['img'][:, :width]), img_fields=['img'], color_fields=['img'],
                       gt_bboxes=scene['bbox'][keep], bbox_fields=['gt_bboxes'], interpolation=dict())
        keys = list()
        for i, (box, label) in enumerate(zip(scene['bbox'][keep], scene['labels'][keep])):
            x1, y1, x2, y2 = [int(v) for v in box]
            mask = np.zeros((self.size, width), np.uint8)
            mask[y1:y2, x1:x2] = scene['mask'][y1:y2, x1:x2] == label + 1
            key = f'gt_masks_{i}'
            results[key] = mask
            results['img_fields'].append(key)
            results['interpolation'][key] = 'INTER_NEAREST'
            keys.append(key)
        results['gt_labels'] = scene['labels'][keep]

        results = self.data_pipeline(results)

        h, w = results['img_shape']
        masks = np.stack([results[k] for k in keys]) if keys else np.zeros((0, h, w), np.uint8)
        return dict(img=F.to_tensor(results['img']),
                    gt_labels=torch.from_numpy(results['gt_labels']),
                    gt_masks=torch.from_numpy(masks),
                    img_meta=dict(ori_shape=results['ori_shape'], img_shape=results['img_shape'],
                                  scale=results['scale'], keep_ratio=results['keep_ratio'],
                                  pad_offset=results.get('pad_offset', (0, 0, 0, 0)),
                                  img_norm_cfg=results['img_norm_cfg']))
