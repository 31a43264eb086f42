"""engine-ckpt-show: what a checkpoint or weights file holds.

    engine-ckpt-show output/run/checkpoints/model_0000200.pth
    engine-ckpt-show model.safetensors
    engine-ckpt-show model_final.pth --prefix model.g_model --config
    python -m engine.tools.ckpt_show model_final.pth

Prints a summary (format, iteration, epoch, best evaluation, data position, engine
version, states) and one table of every tensor: dotted key, shape, dtype, elements.
"""
import os
from typing import Optional, Sequence

import torch
from tabulate import tabulate

from ..checkpoint.io import is_engine_checkpoint, is_safetensors, iter_tensors, load_file
from ..utils.errors import EngineError
from .cli import parser, run_tool

__all__ = ["describe", "main"]


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def describe(path: str, prefix: str = "", config: bool = False) -> str:
    """The text ``engine-ckpt-show`` prints for ``path``."""
    payload = load_file(path)
    size = os.path.getsize(path) if os.path.isfile(path) else sum(  # a distributed checkpoint's folder
        os.path.getsize(os.path.join(path, name)) for name in os.listdir(path))
    tensors = [(k, t) for k, t in iter_tensors(payload) if k.startswith(prefix)]
    if not tensors and not is_engine_checkpoint(payload):
        if not isinstance(payload, dict) or not any(True for _ in iter_tensors(payload)):
            raise EngineError(f"{path!r} holds no tensors: not a checkpoint or weights file")
    summary = [("file", f"{path} ({size / 2**20:.2f} MiB)")]
    if is_engine_checkpoint(payload):
        summary.append(("format", f"engine checkpoint (engine {payload.get('engine_version', '?')})"))
        summary.append(("iteration", payload["iteration"]))
        if payload.get("epoch") is not None:
            summary.append(("epoch", f"{payload['epoch']} (of the next step)"))
        data = payload.get("data") or {}
        if data:
            summary.append(("data", f"{data.get('samples_seen')} samples seen, global batch "
                                    f"{data.get('global_batch')} ({data.get('train_per_batch')} x "
                                    f"{data.get('world_size')} process(es)), dataset {data.get('dataset_size')}"))
        best = (payload.get("trainer") or {}).get("best") or {}
        if best.get("metric"):
            summary.append(("best", f"{best['metric']} ({best['mode']}) = {best.get('value')} at iteration "
                                    f"{best.get('iteration')}"))
        states = []
        for name, state in payload["model"].items():
            inner = list(iter_tensors(state))
            states.append(f"{name} ({len(inner)} tensors, {sum(t.numel() for _, t in inner):,} elements)")
        summary.append(("states", ", ".join(states)))
        others = [k for k in payload if k not in ("model", "iteration", "epoch", "data", "trainer",
                                                   "engine_version", "config")]
        if others:
            summary.append(("also", ", ".join(others)))
    else:
        kind = "safetensors" if is_safetensors(path) else "state_dict" if isinstance(payload, dict) else type(payload).__name__
        summary.append(("format", kind))
    summary.append(("tensors", f"{len(tensors)} shown, {sum(t.numel() for _, t in tensors):,} elements"
                    + (f" (keys starting with {prefix!r})" if prefix else "")))
    lines = [tabulate(summary, tablefmt="plain"), ""]
    lines.append(tabulate([(k, _shape(t), str(t.dtype).replace("torch.", ""), t.numel()) for k, t in tensors],
                          headers=["key", "shape", "dtype", "elements"]))
    if config:
        text = payload.get("config") if isinstance(payload, dict) else None
        lines += ["", "config:", text if isinstance(text, str) else "(this file holds no config)"]
    return "\n".join(lines)


def build_parser():
    p = parser("engine-ckpt-show", __doc__)
    p.add_argument("path", help="a checkpoint (.pth) or weights file (.pth, .safetensors)")
    p.add_argument("--prefix", default="", help="only tensors whose dotted key starts with this, e.g. model.g_model")
    p.add_argument("--config", action="store_true", help="also print the run's config stored in the checkpoint")
    return p


def run(args) -> None:
    print(describe(args.path, args.prefix, args.config))


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
