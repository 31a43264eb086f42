"""The GAN example: an MLP generator and discriminator on scikit-learn's 8x8 digits,
about 15 s on 2 CPU cores.

Run:  python train.py --config-file codes/configs/digits_gan.py

The log shows the discriminator's terms (d_real, d_fake), the generator's (g_adv), the
generator's lr and the discriminator's (lr_d); the evaluation reports digit_score (an
Inception-Score-like number from 1 to 10, from a frozen digits classifier) of samples
from the EMA generator, and real_digit_score, the same on real images.
"""
output_dir = "./output"
output_log_name = "digits_gan"
seed = 42

_to_unit_range = [
    dict(name="Normalize", mean=[127.5], std=[127.5]),  # uint8 -> [-1, 1], as tanh outputs
    dict(name="ToTensor"),
]

dataloader = dict(
    num_workers=0,
    train_data_set=dict(name="DigitsDataset", split="train", transformer=_to_unit_range),
    val_data_set=dict(name="DigitsDataset", split="val", transformer=_to_unit_range),
)

trainer = dict(
    name="BaseTrainer",
    device="cpu",
    log_period=50,
    model=dict(
        name="DigitsGan",
        generator=dict(name="DigitsGenerator", z_dim=16, hidden=128),
        discriminator=dict(name="DigitsDiscriminator", hidden=128),  # one, named 'd'
        g_step=1,                     # the generator trains every iteration
        ema=dict(enabled=True, decay_rate=0.99, warmup="exp", tau=50.0),
    ),
    evaluator=dict(name="DigitsSampleEvaluator"),
)

_adam = dict(type="Adam", params=dict(lr=0.001, betas=[0.5, 0.999]))
_cosine = dict(
    enabled=True,
    type="LRMultiplierScheduler",
    params=dict(lr_scheduler_param=dict(name="WarmupCosineLR", end_value=0.1),
                warmup_iter=50, warmup_factor=0.1),
)

solver = dict(
    train_per_batch=64,
    test_per_batch=360,
    max_iter=600,
    checkpoint_period=200,
    eval_period=200,
    max_keep=3,
    generator=dict(optimizer=_adam, lr_scheduler=_cosine),
    discriminator=dict(optimizer=_adam, lr_scheduler=_cosine),  # shared by every discriminator
)
