"""The digits example: a small CNN on scikit-learn's 8x8 digits, about a minute on 2 CPU cores.

Run:  python train.py --config-file codes/configs/digits.py
Same run as codes/configs/digits.yaml.
"""
output_dir = "./output"
output_log_name = "digits"
seed = 42

_mean, _std = [0.5], [0.5]  # names starting with '_' are helpers, not settings

dataloader = dict(
    num_workers=2,
    train_data_set=dict(
        name="DigitsDataset",
        split="train",
        transformer=[
            dict(name="Resize", target_size=16, interpolation="INTER_LINEAR"),
            dict(name="Pad", size=[18, 18]),
            dict(name="RandomCrop", size=[16, 16]),
            dict(name="RandomColorJitter", brightness_limit=[0.8, 1.2], brightness_p=0.5,
                 contrast_limit=[0.8, 1.2], contrast_p=0.5,
                 saturation_p=0.0, hue_p=0.0, blur_p=0.0, gamma_p=0.0, clahe_p=0.0),  # the other seed ops off
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
    val_data_set=dict(
        name="DigitsDataset",
        split="val",
        transformer=[
            dict(name="Resize", target_size=16, interpolation="INTER_LINEAR"),
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
)

trainer = dict(
    name="BaseTrainer",
    device="cpu",
    log_period=50,
    model=dict(
        name="DigitsClassifier",
        generator=dict(name="DigitsNet", num_classes=10, width=16),
        loss=dict(cls=[dict(name="CrossEntropyLoss", param=dict(lambda_weight=1.0))]),
        ema=dict(enabled=True, decay_rate=0.99),
    ),
    evaluator=dict(name="ClassificationEvaluator", topk=[1, 3]),
)

solver = dict(
    train_per_batch=32,
    test_per_batch=256,
    max_iter=600,
    checkpoint_period=200,
    eval_period=200,
    max_keep=5,
    generator=dict(
        optimizer=dict(type="AdamW", params=dict(lr=0.003, weight_decay=0.0001)),
        lr_scheduler=dict(
            enabled=True,
            type="LRMultiplierScheduler",
            params=dict(
                lr_scheduler_param=dict(name="WarmupCosineLR"),
                warmup_factor=0.01,
                warmup_iter=50,
                warmup_method="linear",
            ),
        ),
    ),
)
