from .dataset import DigitsImages
from .network import Generator, Discriminator
from .model import DigitsGanModel
