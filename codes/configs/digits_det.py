"""The detection example: one box and class per digit on 64x64 scenes built from
scikit-learn's digits (codes/digits_scenes), a small anchor-free (CenterNet-style)
detector, COCO mAP on 300 validation scenes.

Run:  python train.py --config-file codes/configs/digits_det.py
Same run as codes/configs/digits_det.yaml; numbers in doc/examples.md.
"""
_base_ = "_base_/digits_examples.py"  # output, seed, workers, trainer, optimiser, LR
output_log_name = "digits_det"

_mean, _std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]

dataloader = dict(
    train_data_set=dict(
        name="DigitScenesDataset",
        split="train",
        num_scenes=4000,
        task="detection",
        transformer=[
            # half the samples: a 2x2 mosaic of four scenes (128 x 128) cut back to 64 x 64;
            # boxes cut below the thresholds are removed with their labels
            dict(name="MosaicTransform", max_size=64, n=4, p=0.5, pad_val=0),
            dict(name="RandomCrop", size=[64, 64]),
            dict(name="RandomAffine", rotate_degree_range=[-5, 5], scaling_ratio_range=[0.9, 1.1],
                 max_translate_ratio=0.05, border_ratio=1.0, border_val=0, p=0.5),
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
        task="detection",
        transformer=[
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
)

trainer = dict(
    model=dict(
        name="DigitsDetector",
        generator=dict(name="TinyCenterNet", num_classes=10, width=16),
    ),
    evaluator=dict(name="DetectionEvaluator", num_classes=10),
)

solver = dict(
    train_per_batch=16,
    test_per_batch=100,
    max_iter=1000,
    checkpoint_period=500,
    eval_period=500,
    best_metric="mAP_50",
)

# engine-export: the raw heads (codes/digits_det/export.py); decoding and NMS stay in Python
onnx = dict(
    name="CenterNetHeadsExport",
    input_shape=dict(images=dict(shape=[1, 3, 64, 64], dtype="float32")),
    input_names=["images"],
    output_names=["heatmap", "size", "offset"],
    dynamic_axes=dict(images={0: "batch", 2: "height", 3: "width"}, heatmap={0: "batch", 2: "h4", 3: "w4"},
                      size={0: "batch", 2: "h4", 3: "w4"}, offset={0: "batch", 2: "h4", 3: "w4"}),
    options=dict(opset_version=17),
)
