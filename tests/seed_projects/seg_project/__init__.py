from .dataset import SegDataset
from .network import EncoderDecoder
from .model import SegModel
from .trainer import SegTrainer
