from .dataset import DigitBoxes
from .network import BoxNet
from .model import DetModel
from .trainer import DetTrainer
