import glob
import os
from typing import List

from engine.data.dataset import EngineDataSet
from engine.data.build import BUILD_DATASET_REGISTRY
import engine.transforms.functional as F
import cv2


__all__ = [
    'MyDataset'
]


@BUILD_DATASET_REGISTRY.register()
class MyDataset(EngineDataSet):
 
    def __init__(self, my_data_param, transformer:List):
        super(MyDataset, self).__init__(transformer)
        # the user's own sample list: (image path, label) pairs
        root = os.environ["SEED_EXAMPLE_IMAGES"]
        self.dataset = [(p, int(os.path.basename(p).split("_")[0]))
                        for p in sorted(glob.glob(os.path.join(root, "*.png")))]
        return

    def __getitem__(self, index):
        img_path, target_data = self.dataset[index]
        img = cv2.cvtColor(cv2.imread(img_path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

        results = dict()
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = results['img_shape']
        results['img_fields'] = ['img']
        results['color_fields'] = ['img']

        results = self.data_pipeline(results)

        return {'input_data': F.to_tensor(results['img']), 'target_data': target_data}

    def __len__(self):
        return len(self.dataset)
