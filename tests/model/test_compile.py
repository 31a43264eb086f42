"""trainer.compile: the networks compiled in place (inductor builds C++ on this CPU) train
the same curve as eager, save checkpoints without ``_orig_mod.`` keys that load into an
uncompiled network and export to ONNX, and resume exactly. A tiny network keeps the
compilation (the slow part on 2 cores) to seconds."""
import json
import os
import shutil

import pytest
import torch
from torch import nn

from engine.config.loader import load_cfg
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.model.speed import (check_compiler, compile_options, eager, eager_numerics, prepare_networks,
                                refuse_cuda_graphs)
from engine.tools import export as export_tool
from engine.utils.errors import ConfigError

from fault_tolerance_helpers import DIGITS_PY, load, run_here, tensor_differences
from seed_style_net import SeedStyleNet

STEPS = 20


@BUILD_NETWORK_REGISTRY.register()
class TinyCompiledNet(nn.Module):
    """16x16 grey digits -> 10 logits: two convolutions with BatchNorm, dropout and a
    linear layer (the digits config's Normalize leaves pixel units: scaled here to keep
    the loss near 2). The dropout draws its masks in the compiled graph: they must be
    eager's; the convolutions must run in eager's memory format (inductor's own choice,
    channels_last, sums in another order)."""

    def __init__(self, num_classes: int = 10, **unused):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 4, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(4 * 8 * 8, num_classes)

    def forward(self, x):
        return self.head(self.drop(self.conv(x / 255.0).flatten(1)))


OVERRIDES = ["dataloader.num_workers", "0", "trainer.progress_bar", "False", "trainer.log_period", "1",
             "trainer.model.generator.name", "TinyCompiledNet", "solver.checkpoint_period", "10",
             "solver.eval_period", "0", "solver.generator.lr_scheduler.params.warmup_iter", "5",
             "dataloader.val_data_set.val_fraction", "0.05"]


def train(out, *extra):
    assert run_here(["--config-file", DIGITS_PY, "output_dir", str(out), "solver.max_iter", str(STEPS),
                     *OVERRIDES, *extra]) == 0
    return os.path.join(str(out), "digits")


def losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r["cls"] for r in map(json.loads, f) if r["type"] == "train"]  # the config's loss term


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(eager run folder, compiled run folder), 20 steps each."""
    out = tmp_path_factory.mktemp("compile")
    return train(out / "eager"), train(out / "compiled", "trainer.compile", "True")


def test_compiled_training_follows_the_eager_loss_curve(runs):
    eager, compiled = (losses(run) for run in runs)
    assert len(eager) == len(compiled) == STEPS
    assert max(abs(a - b) for a, b in zip(eager, compiled)) < 1e-5


def test_the_checkpoint_has_no_orig_mod_keys_and_loads_into_an_uncompiled_network(runs):
    state = load(os.path.join(runs[1], "checkpoints", "model_final.pth"))["model"]
    keys = [k for part in state.values() if isinstance(part, dict) for k in part]
    assert keys and not [k for k in keys if "_orig_mod" in k]
    TinyCompiledNet().load_state_dict(state["g_model"])  # strict: every key, the same names


def test_the_compiled_checkpoint_exports_to_onnx_and_verifies(runs, tmp_path):
    ckpt = os.path.join(runs[1], "checkpoints", "model_final.pth")
    assert export_tool.main(["--config-file", DIGITS_PY, "--weights", ckpt, "--output", str(tmp_path / "m.onnx"),
                             "--input-shape", "1", "1", "16", "16", "--verify", "--", *OVERRIDES,
                             "trainer.compile", "True"]) == 0


def test_a_compiled_run_resumes_exactly(runs, tmp_path):
    straight = runs[1]
    resumed = tmp_path / "digits"
    shutil.copytree(os.path.join(straight, "checkpoints"), resumed / "checkpoints")
    for name in ("model_final.pth", "model_0000020.pth"):
        (resumed / "checkpoints" / name).unlink(missing_ok=True)
    (resumed / "checkpoints" / "last_checkpoint").write_text("model_0000010.pth\n")
    train(tmp_path, "--resume", "trainer.compile", "True")
    a = load(os.path.join(straight, "checkpoints", "model_final.pth"))["model"]
    b = load(resumed / "checkpoints" / "model_final.pth")["model"]
    assert {"g_model", "g_solver", "g_ema"} <= set(a) and not tensor_differences(a, b)


def test_compiled_graphs_draw_random_numbers_and_lay_out_convolutions_as_eager_does():
    # inductor's fallback_random, and its layout choice kept to trainer.channels_last's,
    # unless the config says otherwise; a mode becomes its options
    assert eager_numerics({}) == {"options": {"fallback_random": True, "layout_optimization": False}}
    assert eager_numerics({}, channels_last=True)["options"]["layout_optimization"] is True
    assert eager_numerics({"fullgraph": True, "options": {"max_autotune": True}}) == {
        "fullgraph": True, "options": {"max_autotune": True, "fallback_random": True, "layout_optimization": False}}
    moded = eager_numerics({"mode": "max-autotune"})
    assert "mode" not in moded and moded["options"]["max_autotune"] and moded["options"]["fallback_random"]
    assert eager_numerics({"options": {"fallback_random": False, "layout_optimization": True}}) == {
        "options": {"fallback_random": False, "layout_optimization": True}}
    assert eager_numerics({"backend": "aot_eager"}) == {"backend": "aot_eager"}  # aten's ops already
    assert eager_numerics({"mode": "default", "options": {"a": 1}}) == {"mode": "default", "options": {"a": 1}}


def test_inductors_own_layout_variable_is_left_to_decide(monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_LAYOUT_OPTIMIZATION", "1")
    assert eager_numerics({}) == {"options": {"fallback_random": True}}


def test_config_takes_a_switch_or_a_dict_of_options():
    cfg = load_cfg(DIGITS_PY, ["trainer.compile", "{'backend': 'aot_eager', 'mode': None}"])
    assert compile_options(cfg.TRAINER.COMPILE) == {"backend": "aot_eager", "mode": None}
    # a later value replaces the dict whole
    assert load_cfg(DIGITS_PY, ["trainer.compile", "{'fullgraph': True}", "trainer.compile", "False"]
                    ).TRAINER.COMPILE is False
    for bad, message in (("{'backnd': 'eager'}", "has no option 'backnd'"), ("'yes'", "takes False, True or dict"),
                         ("{'fullgraph': 1}", "fullgraph expects bool")):
        with pytest.raises(ConfigError, match=message):
            load_cfg(DIGITS_PY, ["trainer.compile", bad])


def test_no_cpp_compiler_is_one_line_before_training():
    from torch._inductor import config

    # config.patch, not monkeypatch: the latter's undo deleted the option (a config
    # module's attribute), so a later compile in the same process found no cpp.cxx
    with config.patch({"cpp.cxx": ("no-such-c++-compiler",)}), pytest.raises(ConfigError) as error:
        check_compiler({})
    assert "\n" not in str(error.value) and "'no-such-c++-compiler'" in str(error.value)
    check_compiler({"backend": "aot_eager"})  # builds no C++: nothing to check
    check_compiler(None)


@pytest.mark.parametrize("value", [{"mode": "reduce-overhead"}, {"mode": "max-autotune"},
                                   {"options": {"triton.cudagraphs": True}}, {"backend": "cudagraphs"}])
def test_cuda_graphs_for_training_on_a_gpu_are_one_line_before_training(value):
    options = eager_numerics(value)
    with pytest.raises(ConfigError) as error:
        refuse_cuda_graphs(options, torch.device("cuda", 0))
    assert "\n" not in str(error.value) and "max-autotune-no-cudagraphs" in str(error.value)
    refuse_cuda_graphs(options, torch.device("cpu"))  # the option does nothing on the CPU
    for fine in ({}, {"mode": "max-autotune-no-cudagraphs"}, {"mode": "default"}):
        refuse_cuda_graphs(eager_numerics(fine), torch.device("cuda", 0))


def test_a_cuda_model_asking_for_cuda_graphs_is_refused_before_a_network_is_touched(monkeypatch):
    class CudaModel:  # only what prepare_networks reads before it compiles
        device = torch.device("cuda", 0)

        def named_networks(self):
            raise AssertionError("a network was prepared")

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
    cfg = load_cfg(DIGITS_PY, ["trainer.compile", "{'mode': 'reduce-overhead'}"])
    with pytest.raises(ConfigError, match=r"trainer\.compile: CUDA graphs \(\{'mode': 'reduce-overhead'\}\)"):
        prepare_networks(CudaModel(), cfg)


GRAPHS = []


@torch._dynamo.register_backend(name="engine_test_counting")
def _counting_backend(graph, example_inputs):
    """Runs the captured graph as it is; counts the compilations."""
    GRAPHS.append(graph)
    return graph.forward


def test_the_network_is_compiled_in_place_and_inference_runs_it_eagerly():
    class Bundle:
        device = torch.device("cpu")
        net = nn.Linear(3, 2)

        def named_networks(self):
            return {"g_model": self.net}

    bundle, x = Bundle(), torch.randn(4, 3)
    keys = list(bundle.net.state_dict())
    prepare_networks(bundle, load_cfg(DIGITS_PY, ["trainer.compile", "{'backend': 'engine_test_counting'}"]))
    assert list(bundle.net.state_dict()) == keys
    before = len(GRAPHS)
    expected = torch.nn.functional.linear(x, bundle.net.weight, bundle.net.bias)
    assert torch.equal(bundle.net(x), expected) and len(GRAPHS) == before + 1
    with eager([bundle.net]), torch.no_grad():
        bundle.net.eval()
        assert bundle.net(torch.randn(7, 3)).shape == (7, 2)
    assert len(GRAPHS) == before + 1  # eval mode, no grad, batch 7: no new compilation


@pytest.mark.parametrize("channels_last", [False, True])
def test_compiled_convolutions_run_in_the_configs_memory_format_bit_for_bit_as_eager(channels_last):
    # inductor's own layout choice (channels_last activations) ran other oneDNN kernels:
    # the output 1.7e-6 from eager's, the digits example's 20-step curve 3.3e-5. The
    # channels_last case is inductor's default layout anyway: it checks the pairing, the
    # contiguous case is the one that fails when the option is not passed
    class Bundle:
        device = torch.device("cpu")

        def __init__(self):
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 8, 3, padding=1))

        def named_networks(self):
            return {"g_model": self.net}

    x = torch.randn(4, 16, 32, 32)
    reference, compiled = Bundle(), Bundle()
    overrides = ["trainer.compile", "True", "trainer.channels_last", str(channels_last)]
    prepare_networks(compiled, load_cfg(DIGITS_PY, overrides))
    if channels_last:
        reference.net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    expected, got = reference.net(x), compiled.net(x)
    assert torch.equal(got, expected), (got - expected).abs().max()
    expected.square().sum().backward()
    got.square().sum().backward()
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(reference.net.parameters(), compiled.net.parameters()))


def test_a_method_the_model_calls_runs_the_compiled_call():
    class Bundle:
        device = torch.device("cpu")
        net = SeedStyleNet()

        def named_networks(self):
            return {"g_model": self.net}

    bundle, x, y = Bundle(), torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    expected = torch.nn.functional.cross_entropy(bundle.net.fc(x), y)
    prepare_networks(bundle, load_cfg(DIGITS_PY, ["trainer.compile", "{'backend': 'engine_test_counting'}"]))
    before = len(GRAPHS)
    loss = bundle.net.forward_train(x, y)
    assert torch.equal(loss, expected)
    assert len(GRAPHS) == before + 1  # one graph: forward_train with the inner self(x) inlined
    ops = {str(node.target) for node in GRAPHS[-1].graph.nodes}
    assert any("cross_entropy" in op for op in ops), ops  # the loss was compiled too
    loss.backward()
    assert bundle.net.fc.weight.grad is not None
    assert list(bundle.net.state_dict()) == ["fc.weight", "fc.bias"]
