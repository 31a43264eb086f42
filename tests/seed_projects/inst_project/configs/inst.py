_base_ = ['./_base_/data.py']

max_iter = 60

model = dict(
    name='TinySolo',
    num_classes=10,
    channels=[16, 32],
    num_grids=(8, 5),
    loss_mask=[dict(name='BinaryDiceLoss', param=dict(apply_sigmoid=True, lambda_weight=3.0, reduction='none'))],
    loss_cls=[dict(name='SigmoidFocalLoss', param=dict(apply_sigmoid=True, gamma=2.0, alpha=0.25, reduction='sum',
                                                        lambda_weight=1.0))],
)

trainer = dict(
    name='InstTrainer',
    device='cpu',
    weights='',
    enable_epoch_method=False,
    model=dict(name='InstModel', generator=model),
)

solver = dict(
    train_per_batch=8,
    test_per_batch=4,
    max_iter=max_iter,
    max_keep=2,
    checkpoint_period=20,
    generator=dict(
        lr_scheduler=dict(enabled=True, type='LRMultiplierScheduler',
                          params=dict(lr_scheduler_param=dict(name='WarmupCosineLR', gamma=0.1, steps=[30]),
                                      warmup_factor=0.1, warmup_iter=5, max_iter=max_iter)),
        optimizer=dict(type='SGD', params=dict(momentum=0.9, lr=0.05, weight_decay=1e-4)),
        clip_gradients=dict(enabled=False),
    ),
)

output_dir = 'output'
output_log_name = 'inst'
