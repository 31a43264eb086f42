max_iter = 60
base_lr = 0.01

solver = dict(
    train_per_batch=8,
    test_per_batch=16,
    max_iter=max_iter,
    max_keep=3,
    checkpoint_period=20,
    generator=dict(
        lr_scheduler=dict(
            enabled=True,
            type='LRMultiplierScheduler',
            params=dict(
                lr_scheduler_param=dict(
                    name='WarmupMultiStepLR',
                    gamma=0.1,
                    steps=[max_iter // 2],
                ),
                max_iter=max_iter,
                warmup_factor=0.01,
                warmup_iter=5,
                warmup_method='linear',
            )
        ),
        optimizer=dict(
            type='AdamW',
            params=dict(lr=base_lr, weight_decay=1e-4),
        ),
    )
)
