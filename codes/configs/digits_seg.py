"""The segmentation example: per-pixel digit classes on 64x64 scenes built from
scikit-learn's digits (codes/digits_scenes), a small U-Net, mIoU on 300 validation scenes.

Run:  python train.py --config-file codes/configs/digits_seg.py
Same run as codes/configs/digits_seg.yaml; numbers in doc/examples.md.
"""
_base_ = "_base_/digits_examples.py"  # output, seed, workers, trainer, optimiser, LR
output_log_name = "digits_seg"

_mean, _std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]

dataloader = dict(
    train_data_set=dict(
        name="DigitScenesDataset",
        split="train",
        num_scenes=4000,
        task="segmentation",
        transformer=[
            # image and mask move together; the mask is resampled with nearest neighbours
            dict(name="RandomAffine", rotate_degree_range=[-10, 10], scaling_ratio_range=[0.8, 1.2],
                 max_translate_ratio=0.1, border_ratio=1.0, border_val=0, p=0.5),
            dict(name="RandomColorJitter", brightness_limit=[0.7, 1.3], brightness_p=0.5,
                 contrast_limit=[0.7, 1.3], contrast_p=0.5,
                 saturation_p=0.0, hue_p=0.0, blur_p=0.0, gamma_p=0.0, clahe_p=0.0),  # the other seed ops off
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
    val_data_set=dict(
        name="DigitScenesDataset",
        split="val",
        num_scenes=300,
        task="segmentation",
        transformer=[
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
)

trainer = dict(
    model=dict(
        name="DigitsSegmenter",
        generator=dict(name="TinyUNet", num_classes=11, width=16),
        loss=dict(seg=[dict(name="CrossEntropyLoss", param=dict(lambda_weight=1.0))]),
    ),
    evaluator=dict(name="SegmentationEvaluator", num_classes=11,
                   class_names=["background", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
)

solver = dict(
    train_per_batch=16,
    test_per_batch=100,
    max_iter=1000,
    checkpoint_period=500,
    eval_period=500,
    best_metric="mIoU",
)

# engine-export: the generator's logits, any batch size and image size (multiples of 16)
onnx = dict(
    input_shape=dict(images=dict(shape=[1, 3, 64, 64], dtype="float32")),
    input_names=["images"],
    output_names=["logits"],
    dynamic_axes=dict(images={0: "batch", 2: "height", 3: "width"},
                      logits={0: "batch", 2: "height", 3: "width"}),
    options=dict(opset_version=17),
)
