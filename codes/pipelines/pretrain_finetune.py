"""Pretrain -> wash -> fine-tune -> test -> export, the seed toolbox's pipeline, end to end.

    python codes/pipelines/pretrain_finetune.py [--output-dir DIR] [--pretrain-iter N]
                                                [--finetune-iter M] [--workers W]

1. pretrain the feature-learning example (codes/configs/digits_embed.py: a DigitsNet
   embedding through a CosFace head, digits 0-6);
2. wash its final checkpoint down to the backbone with ``engine-ckpt-deploy``: the
   network's weights only, the ``backbone.`` prefix stripped, only ``features.*`` kept
   (the embedding projection and the CosFace class weights dropped);
3. fine-tune the digits classifier (codes/configs/digits.py, all ten digits) from it
   with ``trainer.weights`` (its ``features.*`` load, its new classifier starts fresh);
4. evaluate the fine-tuned model with ``engine-test``;
5. export it with ``engine-export --verify`` (onnxruntime against torch).

Every step is the command a user would type, called in this process; the first failing
step stops the pipeline with its exit status. doc/examples.md walks through it.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import codes  # noqa: E402,F401  (registers the examples)
from engine.schedule.scheduler import BaseScheduler  # noqa: E402
from engine.tools import ckpt_deploy, export  # noqa: E402
from engine.tools import test as test_tool  # noqa: E402

CONFIGS = os.path.join(ROOT, "codes", "configs")


def train(config: str, out: str, iterations: int, *overrides) -> None:
    """``train.py --config-file CONFIG`` for ``iterations`` steps, evaluated and saved halfway."""
    period = str(max(1, iterations // 2))
    warmup = str(min(50, max(1, iterations // 4)))
    try:
        BaseScheduler().schedule(["--config-file", os.path.join(CONFIGS, config), "output_dir", out,
                                  "trainer.progress_bar", "False", "solver.max_iter", str(iterations),
                                  "solver.eval_period", period, "solver.checkpoint_period", period,
                                  "solver.generator.lr_scheduler.params.warmup_iter", warmup, *overrides])
    except SystemExit as e:
        if e.code:
            raise


def step(name: str, code: int) -> None:
    if code:
        raise SystemExit(f"pipeline: step '{name}' failed with exit status {code}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", default="./output/pipeline")
    p.add_argument("--pretrain-iter", type=int, default=600)
    p.add_argument("--finetune-iter", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    common = ["dataloader.num_workers", str(args.workers)]

    # 1. pretrain the embedding
    train("digits_embed.py", out, args.pretrain_iter, "output_log_name", "pretrain", *common)
    pretrained = os.path.join(out, "pretrain", "checkpoints", "model_final.pth")

    # 2. wash: the backbone's feature extractor only
    backbone = os.path.join(out, "backbone.pth")
    step("wash", ckpt_deploy.main([pretrained, backbone, "--strip-prefix", "backbone.", "--keep", r"^features\."]))

    # 3. fine-tune the classifier from it
    train("digits.py", out, args.finetune_iter, "output_log_name", "finetune", "trainer.weights", backbone,
          *common)
    run_dir = os.path.join(out, "finetune")
    final = os.path.join(run_dir, "checkpoints", "model_final.pth")

    # 4. evaluate, 5. export
    work = os.path.join(out, "test")
    step("test", test_tool.main(["--config-file", os.path.join(run_dir, "config.yaml"), "--weights", final,
                                 "--work-dir", work, "--import", "codes", *common]))
    step("export", export.main(["--config-file", os.path.join(run_dir, "config.yaml"), "--weights", final,
                                "--output", os.path.join(out, "digits.onnx"), "--input-shape", "1", "1", "16", "16",
                                "--verify", "--import", "codes"]))
    with open(os.path.join(work, "metrics.json")) as f:
        metrics = json.load(f)["metrics"]
    print(f"pipeline: fine-tuned accuracy {metrics['accuracy']:.4f}; model {os.path.join(out, 'digits.onnx')}")
    return metrics


if __name__ == "__main__":
    main()
