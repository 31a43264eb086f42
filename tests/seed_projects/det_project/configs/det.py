_base_ = './_base_/data.py'

num_classes = 10
max_iter = 200

trainer = dict(
    name='DetTrainer',
    device='cpu',
    model=dict(
        name='DetModel',
        generator=dict(name='BoxNet', num_classes=num_classes, channels=[16, 32, 64], img_size=48),
    ),
)

solver = dict(
    train_per_batch=32,
    test_per_batch=32,
    max_iter=max_iter,
    checkpoint_period=100,
    max_keep=2,
    generator=dict(
        lr_scheduler=dict(enabled=False, type='LRMultiplierScheduler', params=dict()),
        optimizer=dict(type='AdamW', params=dict(lr=3e-3, weight_decay=1e-4)),
    ),
)

output_dir = 'output'
output_log_name = 'det'
