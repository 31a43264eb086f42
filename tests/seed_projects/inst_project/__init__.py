from .loss import SigmoidFocalLoss
from .dataset import SceneConcat, DigitInstances
from .network import TinySolo
from .model import InstModel
from .trainer import InstTrainer
