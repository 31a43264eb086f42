import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset

from engine.data.build import BUILD_DATASET_REGISTRY


@BUILD_DATASET_REGISTRY.register()
class DigitsImages(Dataset):
    def __init__(self, select_nums=-1):
        super(DigitsImages, self).__init__()
        images = load_digits().images.astype(np.float32) / 8.0 - 1.0
        self.images = images if select_nums < 0 else images[:select_nums]

    def __getitem__(self, index):
        return dict(img=torch.from_numpy(self.images[index][None]))

    def __len__(self):
        return len(self.images)
