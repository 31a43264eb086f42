"""What the segmentation, detection and feature-learning examples share (their configs
start with ``_base_ = "_base_/digits_examples.py"``, see doc/config.md "Inheritance"):
the output folder, the seed, two loader workers, the CPU trainer and its log period,
and the optimiser with its warmup + cosine schedule. Each example adds its data, model,
evaluator and step counts; what it sets wins over this file.

``codes/configs/digits.py``, the first example a reader opens, stays one self-contained
file on purpose. Not runnable alone: it names no dataset or model.
"""
output_dir = "./output"
seed = 42

dataloader = dict(num_workers=2)

trainer = dict(
    name="BaseTrainer",
    device="cpu",
    log_period=50,
)

solver = dict(
    max_keep=2,
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
