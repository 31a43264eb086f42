r"""engine-ckpt-deploy: a deployable weights file from a training checkpoint.

    engine-ckpt-deploy output/run/checkpoints/model_final.pth model.pth
    engine-ckpt-deploy model_final.pth model.safetensors --ema --dtype float16
    engine-ckpt-deploy model_final.pth backbone.pth --strip-prefix backbone. --keep '^features\.'
    python -m engine.tools.ckpt_deploy model_best.pth model.pth --ema

Keeps only one network's weights, as a plain state_dict that
``network.load_state_dict(torch.load(path))``, safetensors and ``trainer.weights`` read:
the optimizer, LR schedule, EMA shadow, RNG states, config and counters are dropped.
``--ema`` takes the EMA weights instead of the trained ones (what evaluation used).
Wrapper prefixes ('module.', '_orig_mod.') are stripped; ``--dtype`` casts floating
tensors. ``--keep REGEX`` (repeatable) keeps only the keys (after stripping) that one of
the expressions matches from their start: the seed toolbox's "wash" of a pretrained
network down to the backbone a fine-tuning run loads. The output format follows the
extension: ``.safetensors`` or torch (.pth).
"""
import re
from typing import Dict, Optional, Sequence

import torch

from ..checkpoint.io import is_engine_checkpoint, load_file, save_file
from ..checkpoint.weights import DEFAULT_PREFIXES, extract_state_dict, strip_prefixes
from ..utils.errors import EngineError
from .cli import parser, run_tool
from .keys import inner_prefix

__all__ = ["deploy", "main"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def deploy(src: str, dst: str, *, state: str = "g_model", ema: bool = False,
           prefixes: Sequence[str] = DEFAULT_PREFIXES, dtype: Optional[str] = None,
           keep: Sequence[str] = ()) -> Dict[str, torch.Tensor]:
    """Write the deployable weights of ``src`` to ``dst``; returns them."""
    if dtype is not None and dtype not in DTYPES:
        raise EngineError(f"--dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    try:
        patterns = [re.compile(k) for k in keep]
    except re.error as e:
        raise EngineError(f"--keep: not a regular expression: {e}") from None
    payload = load_file(src)
    if is_engine_checkpoint(payload):
        name = state.replace("_model", "_ema") if ema else state
        if name not in payload["model"]:
            what = "EMA weights" if ema else "state"
            raise EngineError(f"{src!r} has no {what} {name!r}; it holds {sorted(payload['model'])}"
                              + ("; was trainer.model.ema.enabled on?" if ema else ""))
        weights = payload["model"][name]
        inner = inner_prefix(weights) if isinstance(weights, dict) else ""
        if inner:  # the EMA wrapper: its network's weights, without its counters
            weights = {k[len(inner):]: v for k, v in weights.items() if k.startswith(inner)}
        weights = extract_state_dict(weights)
    else:
        if ema:
            raise EngineError(f"--ema needs an engine checkpoint; {src!r} is a plain state_dict")
        try:
            weights = extract_state_dict(payload)
        except EngineError as e:
            raise EngineError(f"{src!r}: {e}") from None
    out: Dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        key = strip_prefixes(key, [p for p in prefixes if p])
        if key in out:
            raise EngineError(f"two tensors of {src!r} would both be named {key!r} after stripping {list(prefixes)}")
        if dtype is not None and value.is_floating_point():
            value = value.to(DTYPES[dtype])
        out[key] = value.detach().clone().contiguous()
    if patterns:
        kept = {k: v for k, v in out.items() if any(p.match(k) for p in patterns)}
        if not kept:
            raise EngineError(f"--keep {list(keep)} matches none of the {len(out)} keys of {src!r} "
                              f"(they start {sorted(out)[:3]}...)")
        out = kept
    save_file(dst, out)
    return out


def build_parser():
    p = parser("engine-ckpt-deploy", __doc__)
    p.add_argument("src", help="an engine checkpoint (or any weights file, to convert it)")
    p.add_argument("dst", help="the weights file to write: .pth or .safetensors")
    p.add_argument("--ema", action="store_true", help="the EMA weights instead of the trained ones")
    p.add_argument("--state", default="g_model", help="the network state to export (default g_model)")
    p.add_argument("--strip-prefix", action="append", default=None, dest="prefixes",
                   help=f"prefix to strip from keys; repeatable (default: {' '.join(DEFAULT_PREFIXES)})")
    p.add_argument("--dtype", default=None, choices=sorted(DTYPES), help="cast floating tensors")
    p.add_argument("--keep", action="append", default=[], metavar="REGEX",
                   help="keep only the keys this matches (after stripping); repeatable")
    return p


def run(args) -> None:
    weights = deploy(args.src, args.dst, state=args.state, ema=args.ema,
                     prefixes=args.prefixes or DEFAULT_PREFIXES, dtype=args.dtype, keep=args.keep)
    elements = sum(t.numel() for t in weights.values())
    size = sum(t.numel() * t.element_size() for t in weights.values())
    print(f"wrote {args.dst}: {len(weights)} tensors, {elements:,} elements, {size / 2**20:.2f} MiB"
          f" ({'EMA' if args.ema else 'trained'} weights)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
