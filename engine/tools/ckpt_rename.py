r"""engine-ckpt-rename: rename the weights' keys with regular expressions.

    engine-ckpt-rename in.pth out.pth --rename '^backbone\.' 'features.'
    engine-ckpt-rename in.pth out.pth -r '^head\.' 'classifier.' -r 'bn(\d)' 'norm\1'
    python -m engine.tools.ckpt_rename in.pth out.pth -r '^fc\.' 'classifier.'

Each rule is ``re.sub(PATTERN, REPLACEMENT, key)``, applied in order to every key of
the weight states (an engine checkpoint: its network states, g_model and g_ema; the EMA
copy's keys are renamed inside its 'module.' wrapper; --state picks states). Everything
else (optimizer, schedule, RNG, config) is copied as it is. A rule set that renames
nothing, or that gives two keys one name, is an error; nothing is written then.
"""
import re
from typing import List, Optional, Sequence, Tuple

from ..checkpoint.io import load_file, save_file
from ..utils.errors import EngineError
from .cli import parser, run_tool
from .keys import compile_rules, edit_keys, sample_keys

__all__ = ["rename_keys", "main"]


def rename_keys(src: str, dst: str, rules: Sequence[Sequence[str]], states: Optional[Sequence[str]] = None
                ) -> List[Tuple[str, str, str]]:
    """Write ``src`` with its weight keys renamed to ``dst``; returns the renamings."""
    compiled = compile_rules(rules)
    if not compiled:
        raise EngineError("give at least one --rename PATTERN REPLACEMENT")
    payload = load_file(src)
    before = sample_keys(payload, states)

    def rename(key: str) -> str:
        for pattern, replacement in compiled:
            try:
                key = pattern.sub(replacement, key)
            except (re.error, IndexError) as e:
                raise EngineError(f"replacement {replacement!r} for {pattern.pattern!r}: {e}") from None
        return key

    changes = edit_keys(payload, rename, states)
    if not changes:
        raise EngineError(f"no key of {src!r} matches {[r[0] for r in rules]}; keys look like: {before}")
    save_file(dst, payload)
    return changes


def _print_changes(changes, dst: str) -> None:
    for label, old, new in changes[:30]:
        print(f"{label}: {old} -> {new}")
    if len(changes) > 30:
        print(f"... and {len(changes) - 30} more")
    print(f"wrote {dst}: {len(changes)} key(s) renamed")


def build_parser():
    p = parser("engine-ckpt-rename", __doc__)
    p.add_argument("src", help="the checkpoint or weights file to read")
    p.add_argument("dst", help="where to write the result (.pth; .safetensors for a plain state_dict)")
    p.add_argument("-r", "--rename", nargs=2, action="append", default=[], metavar=("PATTERN", "REPLACEMENT"),
                   help="a regular expression and its replacement (re.sub); repeat for more rules")
    p.add_argument("--state", action="append", default=None,
                   help="only this state of an engine checkpoint (g_model, g_ema, ...); repeatable")
    return p


def run(args) -> None:
    _print_changes(rename_keys(args.src, args.dst, args.rename, args.state), args.dst)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
