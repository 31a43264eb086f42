"""Reading one config file (.py or .yaml) into a plain tree, refusing what is not a config.

Why each check is here and not later: a config is read before anything is written or
launched, so every way a file can fail to be a config must end as one ``ConfigError``
line naming the file (and the line where there is one), never a raw traceback:

* not UTF-8 text (a binary file, a latin-1 file): the byte and its line;
* a ``.py`` file that does not run (syntax error, an exception, ``sys.exit()``), or that
  prints instead of defining settings;
* a YAML syntax error, a YAML mapping with the same key twice (YAML would silently keep
  the last one and drop the first block), a YAML file whose top level is not a mapping.

The file's ``_base_`` (inheritance, engine/config/inherit.py) is returned beside the tree.
"""
import contextlib
import difflib
import io
import os
import runpy
import sys
import tokenize
import traceback
import types
from typing import Any, Dict, Tuple

import yaml

from ..utils.errors import ConfigError

__all__ = ["read_one_file", "config_format", "BASE_KEY"]

BASE_KEY = "_base_"
FORMATS = {".py": "python", ".yaml": "yaml", ".yml": "yaml"}


def config_format(path: str) -> str:
    """'python' or 'yaml' by extension; anything else is refused."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ConfigError(f"config file {path!r}: expected a .py, .yaml or .yml file")
    return FORMATS[ext]


def read_one_file(path: str) -> Tuple[Dict[str, Any], Any]:
    """``(settings, base)`` of one file: its top-level settings and its ``_base_`` (None
    when it has none). Settings are returned as written (keys not yet upper-cased)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path!r} (cwd: {os.getcwd()})")
    kind = config_format(path)
    _check_text(path, kind)
    tree = _read_python(path) if kind == "python" else _read_yaml(path)
    base = tree.pop(BASE_KEY, None)
    return tree, base


def _check_text(path: str, kind: str) -> None:
    """The file must be text in its encoding (UTF-8, or a .py file's coding cookie)."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ConfigError(f"config file {path!r}, line {line}: contains NUL bytes: not a text "
                          f"file (a binary file named like a config?)")
    encoding, cookie_error = "utf-8", None
    if kind == "python":
        try:
            encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        except SyntaxError as e:  # not UTF-8 without a cookie, or an unknown cookie
            cookie_error = e
    try:
        data.decode(encoding)
        if cookie_error is not None:
            raise ConfigError(f"config file {path!r}: {cookie_error}")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"config file {path!r}, line {line}, column {column}: not {encoding} text (byte "
            f"0x{data[e.start]:02x}); save the file as UTF-8"
        ) from None


def _read_python(path: str) -> Dict[str, Any]:
    """Module-level names of the file; names starting with '_' (but ``_base_``), modules,
    functions and classes are helpers of the file, not settings."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            namespace = runpy.run_path(path, run_name="__engine_config__")
    except SyntaxError as e:
        where = f", line {e.lineno}" if e.lineno else ""
        raise ConfigError(
            f"config file {path!r}{where}: syntax error: {e.msg}\n    {(e.text or '').rstrip()}"
        ) from None
    except SystemExit as e:
        raise ConfigError(
            f"config file {path!r}{_line_in(path, e)}: the file called sys.exit({e.code!r}) while "
            f"being read; a config file only defines settings"
        ) from None
    except Exception as e:  # an error while executing the user's config code
        raise ConfigError(f"config file {path!r}{_line_in(path, e)}: {type(e).__name__}: {e}") from None
    tree = {
        k: v
        for k, v in namespace.items()
        if (k == BASE_KEY or not k.startswith("_"))
        and not isinstance(v, (types.ModuleType, types.FunctionType, type))
        and (k == BASE_KEY or not is_helper_variable(k))
    }
    text = printed.getvalue()
    if text and not set(tree) - {BASE_KEY}:
        first = text.strip().splitlines()[0] if text.strip() else ""
        raise ConfigError(f"config file {path!r} printed instead of defining settings "
                          f"(first line printed: {first[:100]!r}); define module-level names "
                          f"such as solver = dict(...)")
    sys.stdout.write(text)  # a config that prints and defines settings: keep its output
    return tree


def is_helper_variable(name: str) -> bool:
    """A top-level name of a ``.py`` config that is neither a section of the config nor
    spelled nearly like one (``img_size = 608``, ``norm_cfg = dict(...)``, ``model = ...``):
    a variable the file uses to build its sections, as the seed's configs do, not a
    setting. A near-miss (``solvr``, ``Trainer_``) is kept, so that it fails as an
    unknown key with the nearest section named."""
    from .defaults import get_default_cfg

    sections = list(get_default_cfg().keys())
    upper = name.upper()
    return upper not in sections and not difflib.get_close_matches(upper, sections, n=1, cutoff=0.85)


def _line_in(path: str, exc: BaseException) -> str:
    real = os.path.realpath(path)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if os.path.realpath(frame.filename) == real:
            return f", line {frame.lineno}"
    return ""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping holding the same key twice."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}  # the keys written in this mapping; '<<' merges may be overridden
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: SafeLoader reports it itself
                    continue
                if first is not None:
                    raise ConfigError(
                        f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first at "
                        f"line {first}); YAML would keep only the last one: merge the two"
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            tree = yaml.load(f, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except ConfigError as e:
        raise ConfigError(f"config file {path!r}, {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"config file {path!r}{where}: YAML syntax error: {problem}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(
            f"config file {path!r}: expected a mapping of sections at the top level, "
            f"got {type(tree).__name__}"
        )
    return tree
