# The seed's configuration, as written (trainframework-readme, "配置说明").
# Differences forced by this machine, each overridable: device 'cpu' (no GPU here);
# the test passes output_dir, max_iter, checkpoint_period and num_workers on the command line.

dataloader = dict(
    num_workers=8,
    train_data_set=dict(
        name='MyDataset',  # 训练数据名，以下使其初始化参数
        my_data_param='my_data_param',
        transformer=[
            dict(
                name='RandomFlip',
                direction=['horizontal', 'vertical', 'diagonal'],
                p=0.5
            ),
            dict(
                name='Resize',
                target_size=256,
                interpolation='INTER_LINEAR',
                keep_ratio=False,
                clip_border=True,
            ),
            dict(
                name='RandomColorJitter',
                brightness_limit=[0.6, 1.2],
                brightness_p=0.6,
                contrast_limit=[0.6, 1.4],
                contrast_p=0.6,
                saturation_limit=[0.6, 1.4],
                saturation_p=0.5,
                hue_limit=[-0.1, 0.1],
                hue_p=0.05,
                blur_limit=[3, 7],
                blur_p=0.2,
                gamma_limit=[0.3, 3.0],
                gamma_p=0.1,
            )
        ]
    ),
    val_data_set=dict(
        name='MyDataset',
        my_data_param='my_data_param',
        transformer=[
            dict(
                name='Resize',
                target_size=256,
                interpolation='INTER_LINEAR',
                keep_ratio=False,
                clip_border=True,
            ),
        ]
    )
)

trainer = dict(
    name='MyTrainer', #用用户自定义训练器名
    device='cpu',
    weights='', # 预训练模型路径
    model=dict(
        name='MyModel', #用户自定义模型名
        generator=dict(
            name='MyNetwork', #用户自定义的网络名
            my_network_param='my_network_param'
        ),
        loss=dict(
            loss1=[
                dict(name='CrossEntropyLoss', param=dict(lambda_weight=10.))
            ],
            loss2=[
                dict(name='CrossEntropyLoss', param=dict(lambda_weight=1.0), input_name=['input_tensor', 'target_tensor'])
            ]
        ),
        ema=dict(
            enable=True,  # gender enable ema 只对 生成器有效
            decay_rate=0.995        
        )  
    ),
)

solver = dict(
    gradient_accumulation_batch=-1,  # 是否启用梯度累加 > 1 启用
    train_per_batch=8,  # 当 gradient_accumulation_batch > 1 时，真实的 train_per_batch = train_per_batch // gradient_accumulation_batch 
    test_per_batch=8,
    max_iter=200000,
    max_keep=20,
    checkpoint_period=5000,
    generator=dict(
        lr_scheduler=dict(
            enabled=True,
            type='LRMultiplierScheduler',  # 学习率调度方法
            params=dict(           #学习率调度方法对应的参数
                lr_scheduler_param=dict(
                    name='WarmupMultiStepLR',
                    gamma=0.1,
                    steps=[40000, 120000, 180000, 240000],
                ),
                max_iter=200000,
                warmup_factor=0.01,
                warmup_iter=500,
                warmup_method='linear'
            )
        ),
        optimizer=dict(
            type='Adam',  #优化器名
            params=dict(  #优化器参数
                lr=0.01,
                weight_decay=1e-6,
            ),
            clip_gradients=dict(
                enabled=False,
            )
        )
    )
)
output_dir = '/data'
output_log_name = 'my-log'
