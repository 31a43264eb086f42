import os

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.build import BUILD_DATASET_REGISTRY
from engine.transforms import TransformCompose


@BUILD_DATASET_REGISTRY.register()
class SegDataset(Dataset):
    def __init__(self, root, list_file, transformer, select_nums=-1):
        super(SegDataset, self).__init__()
        self.root = root
        self.transformer = TransformCompose(transformer)
        self.data = []
        with open(os.path.join(root, list_file)) as f:
            for line in f:
                line = line.strip()
                if line:
                    self.data.append(line.split(','))
        if select_nums > 0:
            self.data = self.data[:select_nums]

    def __getitem__(self, index):
        img_path, mask_path = self.data[index]
        img = cv2.cvtColor(cv2.imread(os.path.join(self.root, img_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(os.path.join(self.root, mask_path), cv2.IMREAD_GRAYSCALE)
        results = dict(img=img, gt_semantic_seg=mask, color_fields=['img'], img_fields=['img', 'gt_semantic_seg'])
        results = self.transformer(results)
        img = torch.from_numpy(np.ascontiguousarray(results['img'].transpose(2, 0, 1))).float()
        mask = torch.from_numpy(np.ascontiguousarray(results['gt_semantic_seg'])).long()
        return dict(img=img, gt_semantic_seg=mask.unsqueeze(0), img_path=img_path)

    def __len__(self):
        return len(self.data)

    def to_lines(self, indexes):
        return [','.join(self.data[i]) for i in indexes]

    def __repr__(self):
        return 'SegDataset(root={}, samples={})'.format(self.root, len(self.data))
