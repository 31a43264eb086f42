"""The checkpoint tools (engine/tools, doc/tools.md): as functions, as `python -m`, as
console scripts declared in setup.py; every bad input is one error line and exit 2."""
import os
import re
import runpy
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import load_file as load_safetensors

import codes  # noqa: F401
from engine.checkpoint.weights import load_weights
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.tools import ckpt_deploy, ckpt_rename, ckpt_show, ckpt_strip
from engine.tools.ckpt_deploy import deploy
from engine.tools.ckpt_rename import rename_keys
from engine.tools.ckpt_show import describe
from engine.tools.ckpt_strip import strip_keys
from engine.utils.errors import EngineError

from fault_tolerance_helpers import DIGITS_PY, ROOT, load, run_here

TOOLS = {"ckpt_show": ckpt_show, "ckpt_rename": ckpt_rename, "ckpt_strip": ckpt_strip, "ckpt_deploy": ckpt_deploy}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """model_final.pth of a 2-iteration digits run (network, AdamW, schedule, EMA)."""
    out = tmp_path_factory.mktemp("tools")
    assert run_here(["--config-file", DIGITS_PY, "output_dir", str(out), "dataloader.num_workers", "0",
                     "trainer.progress_bar", "False", "solver.max_iter", "2",
                     "dataloader.val_data_set.val_fraction", "0.02",
                     "solver.generator.lr_scheduler.params.warmup_iter", "1"]) == 0
    return str(out / "digits" / "checkpoints" / "model_final.pth")


# ------------------------------------------------------------------ show
def test_show_lists_every_tensor_with_shape_dtype_and_the_run_facts(checkpoint):
    text = describe(checkpoint)
    assert re.search(r"iteration +2\n", text) and "engine checkpoint" in text
    assert re.search(r"model\.g_model\.features\.0\.weight +16x1x3x3 +float32 +144\n", text)
    assert "model.g_solver.optimizer.state.0.exp_avg" in text and "model.g_ema.n_averaged" in text
    assert "g_model (26 tensors" in text and "global batch 32" in text
    only = describe(checkpoint, prefix="model.g_model.classifier", config=True)
    assert "model.g_ema" not in only and "model.g_model.classifier.weight" in only
    assert "DigitsClassifier" in only  # the stored config


def test_show_runs_as_python_dash_m(checkpoint):
    proc = subprocess.run([sys.executable, "-m", "engine.tools.ckpt_show", checkpoint, "--prefix", "model.g_model"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "model.g_model.classifier.weight" in proc.stdout and "iteration" in proc.stdout


# ------------------------------------------------------------------ rename / strip
def test_rename_applies_the_rules_to_the_network_and_its_ema_copy(checkpoint, tmp_path):
    out = str(tmp_path / "renamed.pth")
    changes = rename_keys(checkpoint, out, [(r"^classifier\.", "head."), (r"^features\.(\d+)\.", r"body.\1.")])
    before, after = load(checkpoint), load(out)
    assert ("model.g_model", "classifier.weight", "head.weight") in changes
    assert ("model.g_ema", "module.features.0.weight", "module.body.0.weight") in changes
    assert torch.equal(after["model"]["g_model"]["head.weight"], before["model"]["g_model"]["classifier.weight"])
    assert "n_averaged" in after["model"]["g_ema"] and "module.head.bias" in after["model"]["g_ema"]
    assert after["iteration"] == 2 and after["model"]["g_solver"].keys() == before["model"]["g_solver"].keys()
    only_ema = rename_keys(checkpoint, out, [(r"^classifier\.", "head.")], states=["g_ema"])
    assert {label for label, _, _ in only_ema} == {"model.g_ema"}


def test_strip_removes_wrapper_prefixes_and_writes_safetensors(tmp_path):
    state = {f"module._orig_mod.{k}": v for k, v in BUILD_NETWORK_REGISTRY.get("DigitsNet")().state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "ddp.pth")
    strip_keys(str(tmp_path / "ddp.pth"), str(tmp_path / "plain.pth"))
    assert set(load(tmp_path / "plain.pth")["state_dict"]) == {k[len("module._orig_mod."):] for k in state}
    torch.save(state, tmp_path / "bare.pth")
    changes = strip_keys(str(tmp_path / "bare.pth"), str(tmp_path / "plain.safetensors"), ["module."])
    assert len(changes) == len(state)
    assert set(load_safetensors(str(tmp_path / "plain.safetensors"))) == {k[len("module."):] for k in state}


# ------------------------------------------------------------------ deploy
@pytest.mark.parametrize("ema, suffix, dtype", [(False, ".pth", None), (True, ".safetensors", "float16")])
def test_deploy_keeps_only_the_network_weights(checkpoint, tmp_path, ema, suffix, dtype):
    out = str(tmp_path / f"model{suffix}")
    weights = deploy(checkpoint, out, ema=ema, dtype=dtype)
    written = load_safetensors(out) if suffix == ".safetensors" else load(out)
    source = load(checkpoint)["model"]
    expected = {k[len("module."):]: v for k, v in source["g_ema"].items() if k.startswith("module.")} if ema \
        else source["g_model"]
    assert set(written) == set(weights) == set(source["g_model"])  # a bare state_dict, nothing else
    for key, value in expected.items():
        want = value.to(torch.float16) if dtype and value.is_floating_point() else value
        assert torch.equal(written[key], want), key
    network = BUILD_NETWORK_REGISTRY.get("DigitsNet")()
    if dtype is None:
        network.load_state_dict(written)  # strict: loads as it is
    report = load_weights(network, out)  # and through trainer.weights
    assert not report["missing"] and not report["unexpected"] and not report["shape_mismatch"]


# ------------------------------------------------------------------ the command lines
def tool(name, *argv):
    """Run ``python -m engine.tools.<name> ARGV`` in this process; returns the exit code."""
    old = sys.argv
    sys.argv = [f"engine/tools/{name}.py", *argv]
    try:
        with warnings.catch_warnings():  # "found in sys.modules": this test imported it already
            warnings.simplefilter("ignore", RuntimeWarning)
            runpy.run_module(f"engine.tools.{name}", run_name="__main__", alter_sys=False)
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = old
    return 0


def one_error(capsys):
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_each_tool_runs_as_a_module(checkpoint, tmp_path, capsys):
    assert tool("ckpt_show", checkpoint) == 0
    assert "model.g_model.classifier.weight" in capsys.readouterr().out
    assert tool("ckpt_rename", checkpoint, str(tmp_path / "r.pth"), "-r", "^classifier", "head") == 0
    assert "4 key(s) renamed" in capsys.readouterr().out  # 2 in g_model, 2 in g_ema
    assert tool("ckpt_deploy", checkpoint, str(tmp_path / "d.pth"), "--ema") == 0
    assert "(EMA weights)" in capsys.readouterr().out
    assert tool("ckpt_strip", str(tmp_path / "d.pth"), str(tmp_path / "s.pth"), "--prefix", "features.") == 0
    assert "key(s) stripped" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_missing_and_non_checkpoint_files_exit_2_with_one_message(name, tmp_path, capsys):
    extra = {"ckpt_show": [], "ckpt_rename": [str(tmp_path / "o.pth"), "-r", "a", "b"],
             "ckpt_strip": [str(tmp_path / "o.pth")], "ckpt_deploy": [str(tmp_path / "o.pth")]}[name]
    assert TOOLS[name].main([str(tmp_path / "missing.pth"), *extra]) == 2
    line = one_error(capsys)
    assert "file not found" in line and "missing.pth" in line
    text = tmp_path / "notes.pth"
    text.write_text("these are notes, not a checkpoint\n")
    assert TOOLS[name].main([str(text), *extra]) == 2
    assert "does not load as a torch file" in one_error(capsys)
    assert not (tmp_path / "o.pth").exists()


@pytest.mark.parametrize("argv, message", [
    (["-r", "(unclosed", "x"], "bad regular expression '(unclosed'"),
    (["-r", "^nothing_like_this", "x"], "no key of"),
    (["-r", ".*", "same"], "would both be named"),
    (["-r", "^classifier", "head", "--state", "g_nope"], "has no state 'g_nope'"),
    (["-r", "^classifier", "head", "--state", "g_solver"], "is not network weights"),
])
def test_rename_refuses_rules_that_cannot_be_right(checkpoint, tmp_path, capsys, argv, message):
    out = tmp_path / "o.pth"
    assert ckpt_rename.main([checkpoint, str(out), *argv]) == 2
    assert message in one_error(capsys)
    assert not out.exists()


def test_other_bad_requests_exit_2(checkpoint, tmp_path, capsys):
    assert ckpt_strip.main([checkpoint, str(tmp_path / "o.pth"), "--prefix", "nothing."]) == 2
    assert "starts with ['nothing.']" in one_error(capsys)
    no_ema = tmp_path / "no_ema.pth"
    torch.save({"model": {"g_model": {"w": torch.ones(1)}, "g_solver": {}}, "iteration": 1}, no_ema)
    assert ckpt_deploy.main([str(no_ema), str(tmp_path / "o.pth"), "--ema"]) == 2
    assert "has no EMA weights 'g_ema'" in one_error(capsys)
    assert ckpt_rename.main([checkpoint, str(tmp_path / "o.safetensors"), "-r", "^classifier", "head"]) == 2
    assert "flat dict of tensors only" in one_error(capsys)
    with pytest.raises(SystemExit) as info:  # argparse: a usage error
        ckpt_deploy.main([checkpoint])
    assert info.value.code == 2
    assert not (tmp_path / "o.pth").exists()


def test_setup_declares_each_tool_as_a_console_script():
    setup_py = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    scripts = dict(re.findall(r'"(engine-[\w-]+)=([\w.]+:\w+)"', setup_py))
    assert set(scripts) == {"engine-ckpt-show", "engine-ckpt-rename", "engine-ckpt-strip", "engine-ckpt-deploy",
                            "engine-test", "engine-export", "engine-browse-dataset", "engine-convert-dataset", "engine-train"}
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), target
    for module in TOOLS.values():
        assert 'if __name__ == "__main__":' in open(module.__file__, encoding="utf-8").read()


def test_tool_errors_are_engine_errors(tmp_path):
    with pytest.raises(EngineError, match="file not found"):
        describe(str(tmp_path / "nope.pth"))


# ------------------------------------------------------------------ checksums
@pytest.fixture(scope="module")
def flipped(checkpoint, tmp_path_factory):
    """A copy of the checkpoint with one bit flipped inside a tensor's bytes."""
    import zipfile

    path = tmp_path_factory.mktemp("flipped") / "model_final.pth"
    data = bytearray(open(checkpoint, "rb").read())
    info = next(i for i in zipfile.ZipFile(checkpoint).infolist() if "/data/" in i.filename and i.file_size > 64)
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0x01
    path.write_bytes(bytes(data))
    assert torch.load(path, weights_only=True)  # torch itself loads it without a word
    return str(path)


@pytest.mark.parametrize("reader", ["ckpt_show", "ckpt_deploy", "ckpt_rename", "ckpt_strip", "engine-test",
                                    "engine-export", "trainer.weights"])
def test_every_reader_refuses_a_flipped_byte_in_one_line_naming_the_file(flipped, tmp_path, capsys, reader):
    from engine.tools import export, test as test_tool

    out = str(tmp_path / "out.pth")
    common = ["--config-file", DIGITS_PY, "--weights", flipped, "dataloader.num_workers", "0"]
    if reader in TOOLS:
        code = TOOLS[reader].main([flipped] + ([] if reader == "ckpt_show" else [out])
                                  + (["-r", "a", "b"] if reader == "ckpt_rename" else []))
    elif reader == "engine-test":
        code = test_tool.main(common + ["--work-dir", str(tmp_path / "w")])
    elif reader == "engine-export":
        code = export.main(common[:4] + ["--output", str(tmp_path / "m.onnx"), "--input-shape", "1", "1", "16", "16"])
    else:
        code = run_here(["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "trainer.weights", flipped,
                         "solver.max_iter", "2", "solver.generator.lr_scheduler.params.warmup_iter", "1"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1, err
    assert f"{flipped!r} is damaged: record 'archive/data/" in err[0] and "use another copy" in err[0]
    assert not os.path.exists(out) and not os.path.exists(tmp_path / "m.onnx")
