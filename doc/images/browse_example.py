"""Makes doc/images/browse_dataset.png, the picture in doc/tools.md and doc/transforms.md.

    python doc/images/browse_example.py

A small synthetic detection/segmentation set (ellipses and rectangles with their masks,
boxes, class labels and two keypoints each) through Mosaic, RandomAffine, a flip with
keypoint flip_pairs and Resize, shown by engine-browse-dataset's own code path.
"""
import os
import tempfile

import cv2
import numpy as np

from engine.data.build import BUILD_DATASET_REGISTRY
from engine.data.dataset import EngineDataSet
from engine.tools.browse_dataset import browse

HERE = os.path.dirname(os.path.abspath(__file__))


@BUILD_DATASET_REGISTRY.register()
class BrowseExampleScenes(EngineDataSet):
    def __init__(self, size=64, transformer=None):
        super().__init__(transformer)
        self.size = size

    def __len__(self):
        return self.size

    def load_results(self, index):
        g = np.random.default_rng(index)  # a fixed scene per index (not augmentation)
        img = np.full((96, 128, 3), (40, 60, 90), np.uint8)
        img += g.integers(0, 20, img.shape, dtype=np.uint8)
        mask = np.zeros((96, 128), np.uint8)
        boxes, labels, pts = [], [], []
        for k in range(g.integers(1, 4)):
            cls = int(g.integers(1, 4))
            w, h = (int(v) for v in g.integers(20, 44, size=2))
            x, y = int(g.integers(0, 128 - w)), int(g.integers(0, 96 - h))
            colour = tuple(int(c) for c in g.integers(120, 255, size=3))
            if cls == 1:
                cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
                cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, cls, -1)
            else:
                cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), colour, -1)
                cv2.rectangle(mask, (x, y), (x + w - 1, y + h - 1), cls, -1)
            boxes.append([x, y, x + w, y + h])
            labels.append(cls)
            pts += [[x + w * 0.3, y + h * 0.5], [x + w * 0.7, y + h * 0.5]]
        return dict(img=img, mask=mask, bbox=np.array(boxes, np.float32), labels=np.array(labels),
                    pts=np.array(pts, np.float32), img_fields=["img", "mask"], color_fields=["img"],
                    bbox_fields=["bbox"], pts_fields=["pts"], bbox_label_fields=["labels"],
                    img_shape=img.shape[:2], ori_shape=img.shape[:2])

    def __getitem__(self, index):
        return self.data_pipeline(self.load_results(index))["img"]


CONFIG = """
seed = 7
dataloader = dict(train_data_set=dict(name='BrowseExampleScenes', transformer=[
    dict(name='MosaicTransform', max_size=96, n=4, p=0.5),
    dict(name='RandomAffine', max_rotate_degree=20, scaling_ratio_range=[0.8, 1.1], p=1.0),
    dict(name='RandomFlip', direction=['horizontal'], p=0.5, flip_pairs=[[0, 1]]),
    dict(name='Resize', target_size=[120, 160]),
]))
"""

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "browse_example.py")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        (path,) = browse(cfg, num=8, cols=4, tile_size=120, output_dir=tmp)
        os.replace(path, os.path.join(HERE, "browse_dataset.png"))
    print(os.path.join(HERE, "browse_dataset.png"))
