"""Tools find the project by themselves: a run records the modules that registered its
components (custom_imports, project_root in config.yaml), and engine-test,
engine-export, engine-browse-dataset and the Predictor import them from another folder,
without --import, for a project that is not named `codes`."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from engine.config.loader import load_cfg
from engine.tools import browse_dataset, export as export_tool, test as test_tool
from engine.utils import registry as registry_module
from engine.utils.errors import ConfigError

from conftest import ROOT
from zoo_data import digits_folder
from zoo_runs import train_config, write_config

PROJECT = {
    "acmeproj/__init__.py": "from .network import *\nfrom .model import *\n",
    "acmeproj/network.py": """
        from torch import nn
        from engine.model.build import BUILD_NETWORK_REGISTRY

        __all__ = ["AcmeNet"]

        @BUILD_NETWORK_REGISTRY.register()
        class AcmeNet(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                          nn.Flatten(), nn.Linear(8, num_classes))

            def forward(self, x):
                return self.body(x)
        """,
    "acmeproj/model.py": """
        from torch.nn import functional as F
        from engine.model.base_model import BaseModel
        from engine.model.build import BUILD_MODEL_REGISTRY

        __all__ = ["AcmeModel"]

        @BUILD_MODEL_REGISTRY.register()
        class AcmeModel(BaseModel):
            def run_step(self, data, *, epoch=None, **kwargs):
                logits = self.g_model(data["input_data"].to(self.device))
                return F.cross_entropy(logits, data["target_data"].to(self.device))

            def generator(self, data):
                return self.g_model(data.to(self.device))
        """,
}
PIPE = [dict(name="Normalize"), dict(name="ToTensor")]


def write_project(folder):
    for path, text in PROJECT.items():
        os.makedirs(os.path.join(folder, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(folder, path), "w") as f:
            f.write(textwrap.dedent(text))


def sections(data, **extra):
    return dict(dataloader=dict(train_data_set=dict(name="ImageFolderDataset", root=data["train"], transformer=PIPE),
                                val_data_set=dict(name="ImageFolderDataset", root=data["val"], transformer=PIPE)),
                trainer=dict(model=dict(name="AcmeModel", generator=dict(name="AcmeNet"))),
                solver=dict(train_per_batch=8, test_per_batch=30), **extra)


def forget_project(root):
    """This process as a fresh one would be: the project's modules, registrations and
    sys.path entry gone."""
    for name in [n for n in sys.modules if n == "acmeproj" or n.startswith("acmeproj.")]:
        del sys.modules[name]
    for registry in registry_module._REGISTRIES:
        for name in [n for n, obj in registry._obj_map.items() if getattr(obj, "__module__", "").startswith("acmeproj")]:
            del registry._obj_map[name]
    while root in sys.path:
        sys.path.remove(root)


@pytest.fixture(scope="module")
def project_run(tmp_path_factory):
    """acmeproj trained as its own train.py would (imported, then the scheduler): the
    config names its classes but lists no custom_imports."""
    root = str(tmp_path_factory.mktemp("acme"))
    write_project(root)
    data = digits_folder(os.path.join(root, "data"), size=16, per_class=(8, 3))
    sys.path.insert(0, root)
    try:
        import acmeproj  # noqa: F401  (what `from acmeproj import *` in train.py does)

        run_dir = train_config(root, "run", sections(data))
    finally:
        forget_project(root)
    return root, run_dir, data


def test_the_run_records_the_modules_of_its_classes(project_run):
    root, run_dir, _ = project_run
    recorded = yaml.safe_load(open(os.path.join(run_dir, "config.yaml")))
    assert recorded["custom_imports"] == ["acmeproj.model", "acmeproj.network"]
    assert recorded["project_root"] == root


def test_tools_find_the_project_from_another_folder_without_import(project_run, tmp_path, monkeypatch):
    root, run_dir, data = project_run
    monkeypatch.chdir(tmp_path)
    config, weights = os.path.join(run_dir, "config.yaml"), os.path.join(run_dir, "checkpoints", "model_final.pth")
    try:
        assert test_tool.main(["--config-file", config, "--weights", weights, "--out", "p.jsonl"]) == 0
        assert len(open("p.jsonl").readlines()) == 30 and "acmeproj" in sys.modules
        forget_project(root)
        assert export_tool.main(["--config-file", config, "--weights", weights, "--output", "m.onnx",
                                 "--input-shape", "1", "3", "16", "16", "--verify"]) == 0
        forget_project(root)
        assert browse_dataset.main(["--config-file", config, "--num", "4", "--output-dir", "b"]) == 0
        forget_project(root)
        from engine.inference import Predictor

        image = os.path.join(data["val"], "1", sorted(os.listdir(os.path.join(data["val"], "1")))[0])
        assert Predictor.from_run(run_dir)([image]).shape == (1, 10)
    finally:
        forget_project(root)


def test_engine_train_honours_custom_imports_and_engine_test_runs_elsewhere(project_run, tmp_path):
    """The console scripts in fresh processes: engine-train on a config that lists the
    project by hand, then engine-test from a folder that knows nothing of it."""
    root, _, data = project_run
    config = write_config(os.path.join(root, "by_hand.py"), dict(
        sections(data, custom_imports=["acmeproj"]), output_dir=str(tmp_path), output_log_name="hand",
        trainer=dict(device="cpu", progress_bar=False, model=dict(name="AcmeModel", generator=dict(name="AcmeNet"))),
        solver=dict(max_iter=2, checkpoint_period=2, eval_period=2, train_per_batch=8, test_per_batch=30)))
    env = dict(os.environ, PYTHONPATH=ROOT)
    train = subprocess.run([sys.executable, "-m", "engine.tools.train", "--config-file", config,
                            "dataloader.num_workers", "0"], cwd=root, env=env, capture_output=True, text=True,
                           timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    run_dir = tmp_path / "hand"
    recorded = yaml.safe_load(open(run_dir / "config.yaml"))
    assert recorded["custom_imports"] == ["acmeproj", "acmeproj.model", "acmeproj.network"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    test = subprocess.run([sys.executable, "-m", "engine.tools.test", "--config-file", str(run_dir / "config.yaml"),
                           "--weights", str(run_dir / "checkpoints" / "model_final.pth"), "--out", "p.jsonl"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert test.returncode == 0, test.stderr[-2000:]
    assert json.loads(open(elsewhere / "p.jsonl").readline())["index"] == 0


def test_a_module_that_does_not_import_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('half-written module')\n")
    for module, reason in (("no_such_module_xyz", "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
                           ("broken_mod", "RuntimeError: half-written module")):
        config = write_config(tmp_path / f"cfg_{module}.py", dict(custom_imports=[module], project_root=str(tmp_path)))
        with pytest.raises(ConfigError, match=f"custom_imports: cannot import '{module}' \\(from {tmp_path}\\): "
                                              f"{reason}"):
            load_cfg(config)
        assert test_tool.main(["--config-file", config, "--weights", config]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot import '{module}'" in err
    sys.path.remove(str(tmp_path))  # put there as the project root


def test_classes_from_no_importable_module_are_not_recorded():
    """A class defined in a notebook, a script (``__main__``) or exec'd code could not be
    imported again by a tool: it is left out rather than recorded as a failing import."""
    from engine.config.custom_imports import named_modules
    from engine.model.build import BUILD_NETWORK_REGISTRY

    namespace = {"__name__": "made_up_module"}
    exec("from torch import nn\nclass MadeUpNet(nn.Linear):\n    pass\n", namespace)
    BUILD_NETWORK_REGISTRY.register(namespace["MadeUpNet"])
    try:
        cfg = {"TRAINER": {"MODEL": {"GENERATOR": {"NAME": "MadeUpNet"}, "NAME": "ClassificationModel"}}}
        assert named_modules(cfg) == []
    finally:
        del BUILD_NETWORK_REGISTRY._obj_map["MadeUpNet"]
