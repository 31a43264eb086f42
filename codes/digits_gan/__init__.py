"""A small GAN on scikit-learn's 8x8 digits: the example of ``BaseGanModel`` (one
generator, one discriminator, EMA of the generator, a sample-quality evaluator).

Run:  python train.py --config-file codes/configs/digits_gan.py
"""
from .evaluator import DigitsSampleEvaluator
from .model import DigitsGan
from .network import DigitsDiscriminator, DigitsGenerator

__all__ = ["DigitsGan", "DigitsGenerator", "DigitsDiscriminator", "DigitsSampleEvaluator"]
