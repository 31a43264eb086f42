"""A digits project whose sample list comes from a set of file names, as SDWSeg's
``parse_file_path`` builds it, for tests/schedule/test_string_hashing.py. Run as a script
it is train.py with this dataset registered; the order it trained on goes to log.txt."""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import codes  # noqa: E402,F401  (registers the digits example)
from codes.digits.dataset import DigitsDataset  # noqa: E402
from engine.data.build import BUILD_DATASET_REGISTRY  # noqa: E402
from engine.schedule.scheduler import BaseScheduler  # noqa: E402


@BUILD_DATASET_REGISTRY.register()
class SetOrderDigits(DigitsDataset):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        names = list({f"digits/{i:04d}.png" for i in range(len(self.labels))})  # the hash's order
        order = [int(name[7:11]) for name in names]
        self.images, self.labels = self.images[order], self.labels[order]
        logging.getLogger("engine").info("sample order of %d: %s", len(names), " ".join(names[:8]))


if __name__ == "__main__":
    BaseScheduler().schedule()
