"""Reading Slurm's compact notations: node lists and tasks-per-node counts.

Slurm writes ``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST`` compactly:

    node[01-03,7]          -> node01 node02 node03 node07 (zero padding kept)
    gpu1,gpu[3-4]          -> gpu1 gpu3 gpu4
    rack[1-2]-n[1-2]       -> rack1-n1 rack1-n2 rack2-n1 rack2-n2

and ``SLURM_STEP_TASKS_PER_NODE`` as ``2(x3),1`` (2 tasks on each of 3 nodes, then 1).
Expanded here, without ``scontrol show hostnames`` (which gives the same answer where
Slurm's tools are installed: a test compares them when it can).
"""
import itertools
import re
from typing import List

from ..utils.errors import EngineError

__all__ = ["expand_nodelist", "expand_tasks_per_node", "default_port"]

_COUNT = re.compile(r"^(\d+)(?:\(x(\d+)\))?$")


def _split_top_level(text: str, where: str) -> List[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
            if depth > 1:
                raise EngineError(f"{where}: nested '[' in {text!r}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise EngineError(f"{where}: unbalanced ']' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise EngineError(f"{where}: unbalanced '[' in {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _expand_ranges(body: str, text: str, where: str) -> List[str]:
    """``01-03,7`` -> ['01', '02', '03', '7'] (width of the lower bound kept)."""
    out: List[str] = []
    for part in body.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise EngineError(f"{where}: bad range {part!r} in {text!r}")
        if not sep:
            out.append(lo)
            continue
        if int(hi) < int(lo):
            raise EngineError(f"{where}: range {part!r} runs backwards in {text!r}")
        out.extend(str(n).zfill(len(lo)) for n in range(int(lo), int(hi) + 1))
    return out


def _expand_item(item: str, text: str, where: str) -> List[str]:
    pieces = re.split(r"(\[[^\]]*\])", item)  # literal, [ranges], literal, ...
    choices: List[List[str]] = []
    for piece in pieces:
        if piece.startswith("["):
            choices.append(_expand_ranges(piece[1:-1], text, where))
        elif piece:
            choices.append([piece])
    return ["".join(combo) for combo in itertools.product(*choices)]


def expand_nodelist(text: str, where: str = "SLURM_NODELIST") -> List[str]:
    """Host names of a Slurm node list, in Slurm's order."""
    hosts: List[str] = []
    for item in _split_top_level(text or "", where):
        hosts.extend(_expand_item(item, text, where))
    if not hosts:
        raise EngineError(f"{where} is empty")
    return hosts


def expand_tasks_per_node(text: str, where: str = "SLURM_STEP_TASKS_PER_NODE") -> List[int]:
    """``2(x3),1`` -> [2, 2, 2, 1]."""
    counts: List[int] = []
    for part in (text or "").split(","):
        match = _COUNT.match(part.strip())
        if not match:
            raise EngineError(f"{where}: cannot read {text!r} (expected e.g. '2(x3),1')")
        counts.extend([int(match.group(1))] * int(match.group(2) or 1))
    return counts


def default_port(job_id: str) -> int:
    """A rendezvous port derived from the job id, so two jobs sharing a node differ:
    12000 + job_id mod 20000 (below Linux's ephemeral range, 32768-60999)."""
    digits = "".join(ch for ch in str(job_id) if ch.isdigit())
    return 12000 + (int(digits) % 20000 if digits else 0)
