_base_ = ['./_base_/dataset.py', './_base_/schedule.py']

num_classes = 2
norm_cfg = dict(type='BN')

model = dict(
    name='EncoderDecoder',
    encoder=dict(in_channels=3, channels=[16, 32, 32], norm_cfg=norm_cfg),
    decoder=dict(
        in_channels=[16, 32, 32],
        norm_cfg=norm_cfg,
        loss_cfg=dict(
            seg_loss=[
                dict(name='GeneralizedCELoss', param=dict(lambda_weight=1.0), input_name=['input', 'target']),
                dict(name='GeneralizedDiceLoss', param=dict(lambda_weight=0.5), input_name=['input', 'target']),
            ]
        ),
    ),
    num_classes=num_classes,
)

trainer = dict(
    name='SegTrainer',
    device='cpu',
    weights='',
    enable_epoch_method=False,
    model=dict(
        name='SegModel',
        generator=model,
    ),
)

output_dir = 'output'
output_log_name = 'seg'
