"""engine-test: evaluate a checkpoint on the validation (or test) set, as training evaluates.

    engine-test --config-file codes/configs/digits.py --weights output/digits/checkpoints/model_final.pth
    engine-test --config-file cfg.py --weights model_best.pth --eval accuracy --out preds.jsonl --show-dir show/
    engine-test --config-file cfg.py --weights ckpt.pth --split test --no-ema dataloader.num_workers 0
    python -m engine.tools.test --config-file cfg.py --weights ckpt.pth

The model, the validation loader and the evaluator (trainer.evaluator) are built from the
config exactly as training builds them, and the checkpoint is loaded by the one weights
rule (the EMA's weights when the file holds them and EMA is on; --no-ema: the raw ones),
so the metrics equal those training logged for that checkpoint. Printed: which weights
were used, then a metrics table; written: WORK_DIR/metrics.json (config, weights, split,
weights_used, metrics) and the evaluator's figures in WORK_DIR (default:
RUN/test/<checkpoint>_<split>/). --out FILE writes the evaluator's per-sample
predictions as JSON lines ({"index": i, ...}, doc/evaluation.md); with an evaluator that
keeps none (the default validation loss), the generator's outputs of each sample, decoded
by the model's postprocess when it has one, with the sample's target when it is a number
(doc/tools.md). --show-dir DIR: one PNG per sample with the prediction drawn. --num-gpus N > 1: run it through train.py
--eval-only with --num-gpus N (this tool evaluates in one process).
"""
import os
import sys
from typing import Dict, List, Optional

from tabulate import tabulate

from ..utils.atomic import check_writable, check_writable_file
from ..utils.errors import ConfigError, EngineError
from ..utils import json_values
from ..utils.json_values import to_json
from .cli import import_project, parser, run_tool

__all__ = ["main", "build_parser", "test_checkpoint", "to_json"]


def build_parser():
    p = parser("engine-test", __doc__)
    p.add_argument("--config-file", required=True, help="the training config (.py or .yaml), or RUN/config.yaml")
    p.add_argument("--weights", required=True, help="a checkpoint or weights file")
    p.add_argument("--eval", nargs="+", default=None, metavar="METRIC",
                   help="only these metrics in the table and JSON (default: all the evaluator reports)")
    p.add_argument("--split", default="val", choices=["val", "test"],
                   help="dataloader.val_data_set (default) or dataloader.test_data_set")
    p.add_argument("--out", default=None, metavar="FILE", help="per-sample predictions as JSON lines")
    p.add_argument("--show-dir", default=None, metavar="DIR", help="one PNG per sample, prediction drawn")
    p.add_argument("--show-score-thr", type=float, default=0.3, metavar="S",
                   help="--show-dir draws boxes scored >= S (default 0.3; --out keeps them all)")
    p.add_argument("--work-dir", default=None, metavar="DIR", help="metrics.json and figures go here")
    p.add_argument("--fuse-conv-bn", action="store_true", help="fold BatchNorm into the convolutions first")
    p.add_argument("--num-gpus", type=int, default=1, help="1 (see above for more)")
    p.add_argument("--no-ema", action="store_true", help="the raw weights, not the EMA's")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="a module registering the project's components (repeatable)")
    p.add_argument("opts", nargs="*", metavar="KEY VALUE", help="config overrides")
    return p


def default_work_dir(weights: str, split: str) -> str:
    folder = os.path.dirname(os.path.abspath(weights))
    run = os.path.dirname(folder) if os.path.basename(folder) == "checkpoints" else folder
    return os.path.join(run, "test", f"{os.path.splitext(os.path.basename(weights))[0]}_{split}")


def test_checkpoint(config_file: str, weights: str, *, split: str = "val", metrics: Optional[List[str]] = None,
                    out: Optional[str] = None, show_dir: Optional[str] = None, work_dir: Optional[str] = None,
                    fuse_conv_bn: bool = False, no_ema: bool = False, overrides=(),
                    show_score_thr: float = 0.3) -> Dict[str, object]:
    """Evaluate; returns the record written to metrics.json."""
    from ..data.build import build_dataset, build_val_loader
    from ..evaluation import build_evaluator, run_evaluation
    from ..evaluation.generator_outputs import with_sample_outputs
    from ..inference.loading import load_trained_model
    from .show import check_score_thr

    check_score_thr(show_score_thr)  # before any work, whether or not pictures are drawn
    cfg, model, used = load_trained_model(config_file, weights, no_ema=no_ema, overrides=overrides,
                                          fuse_conv_bn=fuse_conv_bn)
    key = f"{split.upper()}_DATA_SET"
    dataset = build_dataset(cfg.DATALOADER.get(key), f"dataloader.{key.lower()}")
    if dataset is None:
        raise ConfigError(f"--split {split}: dataloader.{key.lower()}.name is not set in {config_file}")
    work_dir = work_dir or default_work_dir(weights, split)
    # every output place is tried before the evaluation: one error line, not a traceback after it
    check_writable(work_dir, "--work-dir folder", "--work-dir")
    if out:
        check_writable_file(out, "--out file", "--out")
    if show_dir:
        check_writable(show_dir, "--show-dir folder", "--show-dir")
    evaluator = build_evaluator(cfg.TRAINER.EVALUATOR, output_dir=work_dir,
                                keep_predictions=bool(out or show_dir))
    if out or show_dir:  # an evaluator that keeps no per-sample records: the generator's outputs
        evaluator = with_sample_outputs(evaluator)
    results = run_evaluation(model, build_val_loader(dataset, cfg, device=model.device), evaluator)
    if metrics:
        unknown = [m for m in metrics if m not in results]
        if unknown:
            raise EngineError(f"--eval {' '.join(unknown)}: {type(evaluator).__name__} reports "
                              f"{sorted(results)}")
        results = {m: results[m] for m in metrics}
    record = {"config": os.path.abspath(config_file), "weights": os.path.abspath(weights), "split": split,
              "weights_used": used, "metrics": to_json(results)}
    with open(os.path.join(work_dir, "metrics.json"), "w", encoding="utf-8") as f:
        f.write(json_values.dumps(record, indent=2))
    if out or show_dir:
        predictions = evaluator.predictions()
        if out:
            with open(out, "w", encoding="utf-8") as f:
                for i, p in enumerate(predictions):
                    f.write(json_values.dumps({"index": i, **p}) + "\n")
        if show_dir:
            from .show import show_predictions

            show_predictions(dataset, predictions, show_dir, score_thr=show_score_thr)
    record["work_dir"] = work_dir
    return record


def run(args) -> None:
    if args.num_gpus != 1:
        raise EngineError(f"--num-gpus {args.num_gpus}: engine-test evaluates in one process; for several "
                          f"run: python train.py --config-file CFG --eval-only --num-gpus {args.num_gpus} "
                          f"trainer.weights CKPT")
    import_project(args.imports)
    record = test_checkpoint(args.config_file, args.weights, split=args.split, metrics=args.eval, out=args.out,
                             show_dir=args.show_dir, work_dir=args.work_dir, fuse_conv_bn=args.fuse_conv_bn,
                             no_ema=args.no_ema, overrides=args.opts, show_score_thr=args.show_score_thr)
    print(f"weights: {record['weights_used']}")
    rows = [[k, "nan" if v is None else f"{v:.6g}" if isinstance(v, float) else v]
            for k, v in record["metrics"].items()]
    print(tabulate(rows, headers=["metric", record["split"]]))
    print(f"metrics: {os.path.join(record['work_dir'], 'metrics.json')}")


def main(argv=None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
