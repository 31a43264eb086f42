"""The wheel's requirements cover every import of ``engine`` (a `pip install` of the
wheel alone must be able to import every module), and, slow, the wheel installed into a
fresh virtual environment trains the digits example."""
import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

ENGINE = os.path.join(ROOT, "engine")


def install_requires():
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return {re.split(r"[<>=\[; ]", ast.literal_eval(item))[0].lower().replace("_", "-")
                    for item in node.value.elts}
    raise AssertionError("setup.py has no install_requires")


def third_party_imports():
    found = {}
    for folder, _, files in os.walk(ENGINE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top != "engine" and top not in sys.stdlib_module_names:
                        found.setdefault(top, os.path.relpath(path, ROOT))
    return found


def test_every_third_party_import_of_engine_is_an_install_requirement():
    required = install_requires()
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(third_party_imports().items()):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & required:
            missing.append(f"{module} ({where}; distribution {sorted(names)})")
    assert not missing, f"imported by engine but not in setup.py install_requires: {missing}"


@pytest.mark.slow
def test_the_wheel_alone_installs_and_trains_the_digits_example(tmp_path):
    """`pip install dist/engine_frame-*.whl` in a fresh venv, then the digits example."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), ROOT],
                   check=True)
    wheel = next((tmp_path / "dist").glob("engine_frame-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "-c", os.path.join(ROOT, "constraints.txt"), str(wheel),
                    "scikit-learn"], check=True)
    project = tmp_path / "project"  # the example without the source tree's engine/ beside it
    shutil.copytree(os.path.join(ROOT, "codes"), project / "codes")
    shutil.copy(os.path.join(ROOT, "train.py"), project / "train.py")
    done = subprocess.run([python, str(project / "train.py"), "--config-file",
                           str(project / "codes" / "configs" / "digits.py"), "output_dir", str(tmp_path / "out"),
                           "solver.max_iter", "60", "trainer.progress_bar", "False"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    import engine as here
    installed = subprocess.run([python, "-c", "import engine, engine.loss, engine.export.onnx_export; "
                                "print(engine.__file__)"], cwd=str(tmp_path), capture_output=True, text=True)
    assert installed.returncode == 0 and "site-packages" in installed.stdout, installed.stderr
    assert os.path.dirname(here.__file__) not in installed.stdout
