"""The feature-learning example: a 64-d embedding of scikit-learn's digits 0-6 trained
through a CosFace margin head, evaluated open-set on the digits 7-9 it never saw
(all 539 of their images) by verification (TPR at FPR 1%) and nearest-neighbour retrieval.

Run:  python train.py --config-file codes/configs/digits_embed.py
Same run as codes/configs/digits_embed.yaml; numbers in doc/examples.md.
"""
_base_ = "_base_/digits_examples.py"  # output, seed, workers, trainer, optimiser, LR
output_log_name = "digits_embed"

_mean, _std = [0.5], [0.5]

dataloader = dict(
    train_data_set=dict(
        name="DigitsDataset",
        split="train",
        classes=[0, 1, 2, 3, 4, 5, 6],
        transformer=[
            dict(name="Resize", target_size=16, interpolation="INTER_LINEAR"),
            dict(name="Pad", size=[18, 18]),
            dict(name="RandomCrop", size=[16, 16]),
            dict(name="RandomColorJitter", brightness_limit=[0.8, 1.2], brightness_p=0.5,
                 contrast_limit=[0.8, 1.2], contrast_p=0.5,
                 saturation_p=0.0, hue_p=0.0, blur_p=0.0, gamma_p=0.0, clahe_p=0.0),  # the other seed ops off
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
    val_data_set=dict(
        name="DigitsDataset",
        split="all",
        classes=[7, 8, 9],  # never seen in training: open-set evaluation
        transformer=[
            dict(name="Resize", target_size=16, interpolation="INTER_LINEAR"),
            dict(name="Normalize", mean=_mean, std=_std),
            dict(name="ToTensor"),
        ],
    ),
)

trainer = dict(
    model=dict(
        name="DigitsEmbedder",
        # DigitsNet's last layer projects to the embedding (its num_classes = embedding size)
        generator=dict(name="DigitsNet", num_classes=64, width=16),
        # the margin head, with its learnable class weights, trained inside the network
        loss=dict(margin=[dict(name="CosFaceLoss",
                               param=dict(in_features=64, num_classes=7, scale=30.0, margin=0.35,
                                          lambda_weight=1.0))]),
    ),
    evaluator=dict(name="RetrievalEvaluator", fprs=[0.01, 0.001]),
)

solver = dict(
    train_per_batch=64,
    test_per_batch=600,
    max_iter=600,
    checkpoint_period=200,
    eval_period=200,
    best_metric="tpr_at_fpr_0.01",
)

# engine-export: only the embedding branch (codes/digits_embed/export.py), dynamic batch
onnx = dict(
    name="EmbeddingExport",
    input_shape=dict(images=dict(shape=[1, 1, 16, 16], dtype="float32")),
    input_names=["images"],
    output_names=["embeddings"],
    dynamic_axes=dict(images={0: "batch"}, embeddings={0: "batch"}),
    options=dict(opset_version=17, do_constant_folding=True),
)
