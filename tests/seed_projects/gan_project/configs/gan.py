max_iter = 60
z_dim = 16

dataloader = dict(
    num_workers=0,
    train_data_set=dict(name='DigitsImages'),
)

trainer = dict(
    name='BaseTrainer',
    device='cpu',
    model=dict(
        name='DigitsGanModel',
        g_step=1,
        generator=dict(name='Generator', z_dim=z_dim, hidden=64),
        discriminator=dict(name='Discriminator', hidden=64),
    ),
)

solver = dict(
    train_per_batch=32,
    max_iter=max_iter,
    checkpoint_period=20,
    max_keep=3,
    generator=dict(
        lr_scheduler=dict(enabled=False, type='LRMultiplierScheduler', params=dict()),
        optimizer=dict(type='Adam', params=dict(lr=2e-3, betas=(0.5, 0.999))),
        clip_gradients=dict(enabled=False),
    ),
    discriminator=dict(
        lr_scheduler=dict(enabled=False, type='LRMultiplierScheduler', params=dict()),
        optimizer=dict(type='Adam', params=dict(lr=2e-3, betas=(0.5, 0.999))),
        clip_gradients=dict(enabled=False),
    ),
)

output_dir = 'output'
output_log_name = 'gan'
