data_root = ''
img_size = 48

t_transformer = [
    dict(name='RandomFlip', direction=['horizontal', 'vertical'], p=0.5),
    dict(name='Resize', target_size=img_size, keep_ratio=False,
         interpolation=dict(img='INTER_LINEAR', gt_semantic_seg='INTER_NEAREST')),
    dict(name='RandomColorJitter', brightness_limit=[0.8, 1.2], brightness_p=0.5,
         contrast_limit=[0.8, 1.2], contrast_p=0.5),
    dict(name='Normalize', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
]

v_transformer = [
    dict(name='Resize', target_size=img_size, keep_ratio=False,
         interpolation=dict(img='INTER_LINEAR', gt_semantic_seg='INTER_NEAREST')),
    dict(name='Normalize', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
]

dataloader = dict(
    num_workers=0,
    train_data_set=dict(name='SegDataset', root=data_root, list_file='train.txt', transformer=t_transformer),
    val_data_set=dict(name='SegDataset', root=data_root, list_file='val.txt', transformer=v_transformer),
)
