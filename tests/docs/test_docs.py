"""Every ```python block in doc/*.md and README.md runs as written.

The blocks of one file run in order in one namespace, in a fresh temporary working
directory, with the repo root importable (as for a user who cloned it)."""
import glob
import os
import re

import pytest

from conftest import ROOT

BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
PAGES = sorted(glob.glob(os.path.join(ROOT, "doc", "*.md"))) + [os.path.join(ROOT, "README.md")]


def python_blocks(path):
    with open(path, encoding="utf-8") as f:
        return BLOCK.findall(f.read())


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)],
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_doc_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_example__"}
    for number, block in enumerate(python_blocks(page), 1):
        code = compile(block, f"{os.path.relpath(page, ROOT)} (python block {number})", "exec")
        exec(code, namespace)


def test_every_doc_page_with_code_has_runnable_examples():
    """A page that shows Python must show it in runnable blocks, not only ```text."""
    for page in PAGES:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        if "```py\n" in text:
            pytest.fail(f"{page}: use ```python (run by this test) or ```text, not ```py")
