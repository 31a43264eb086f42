img_size = 48

train_pipeline = [
    dict(name='RandomFlip', direction=['horizontal'], p=0.5),
    dict(name='Normalize', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
]
test_pipeline = [
    dict(name='Normalize', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
]

dataloader = dict(
    num_workers=0,
    train_data_set=dict(name='DigitBoxes', split='train', num=512, img_size=img_size, transformer=train_pipeline),
    val_data_set=dict(name='DigitBoxes', split='val', num=64, img_size=img_size, transformer=test_pipeline),
)
