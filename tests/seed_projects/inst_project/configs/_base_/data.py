data_size = 48
img_size = 40

t_transformer = [
    dict(name='RandomFlip', direction=['horizontal'], p=0.3),
    dict(name='Resize', interpolation='INTER_LINEAR', target_size=img_size, keep_ratio=True, is_padding=False),
    dict(name='Normalize', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
    dict(name='Pad32'),
]
v_transformer = [
    dict(name='Resize', interpolation='INTER_LINEAR', target_size=img_size, keep_ratio=True, is_padding=False),
    dict(name='Normalize', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
    dict(name='Pad32'),
]

dataloader = dict(
    num_workers=0,
    train_data_set=dict(name='SceneConcat', parts=[('train', 96), ('train', 64)], size=data_size,
                        transformer=t_transformer),
    val_data_set=dict(name='SceneConcat', parts=[('val', 16)], size=data_size, transformer=v_transformer),
)
