"""engine-ckpt-strip: remove wrapper prefixes from the weights' keys.

    engine-ckpt-strip in.pth out.pth                         # 'module.' and '_orig_mod.'
    engine-ckpt-strip in.pth out.pth --prefix model. --prefix backbone.
    python -m engine.tools.ckpt_strip in.pth out.pth

DataParallel/DDP save keys as 'module.<name>', torch.compile as '_orig_mod.<name>'; other
toolboxes wrap networks in 'model.' or 'backbone.'. Each key of the weight states loses
every leading prefix given (repeatedly: 'module.module.x' -> 'x'); the rest of the file is
copied as it is. Nothing to strip, or two keys stripped to one name, is an error.
"""
from typing import List, Optional, Sequence, Tuple

from ..checkpoint.io import load_file, save_file
from ..checkpoint.weights import DEFAULT_PREFIXES, strip_prefixes
from ..utils.errors import EngineError
from .cli import parser, run_tool
from .keys import edit_keys, sample_keys

__all__ = ["strip_keys", "main"]


def strip_keys(src: str, dst: str, prefixes: Sequence[str] = DEFAULT_PREFIXES,
               states: Optional[Sequence[str]] = None) -> List[Tuple[str, str, str]]:
    """Write ``src`` with ``prefixes`` stripped from its weight keys to ``dst``."""
    prefixes = [p for p in prefixes if p]
    if not prefixes:
        raise EngineError("give at least one non-empty --prefix")
    payload = load_file(src)
    before = sample_keys(payload, states)
    changes = edit_keys(payload, lambda key: strip_prefixes(key, prefixes), states)
    if not changes:
        raise EngineError(f"no key of {src!r} starts with {list(prefixes)}; keys look like: {before}")
    save_file(dst, payload)
    return changes


def build_parser():
    p = parser("engine-ckpt-strip", __doc__)
    p.add_argument("src", help="the checkpoint or weights file to read")
    p.add_argument("dst", help="where to write the result (.pth; .safetensors for a plain state_dict)")
    p.add_argument("--prefix", action="append", default=None,
                   help=f"a prefix to remove; repeatable (default: {' '.join(DEFAULT_PREFIXES)})")
    p.add_argument("--state", action="append", default=None,
                   help="only this state of an engine checkpoint (g_model, g_ema, ...); repeatable")
    return p


def run(args) -> None:
    changes = strip_keys(args.src, args.dst, args.prefix or DEFAULT_PREFIXES, args.state)
    for label, old, new in changes[:10]:
        print(f"{label}: {old} -> {new}")
    print(f"wrote {args.dst}: {len(changes)} key(s) stripped")


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
