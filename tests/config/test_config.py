"""Config files, overrides and their error messages (engine/config)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from engine.config import dump_cfg, get_default_cfg, load_cfg
from engine.utils.errors import ConfigError

from conftest import DIGITS_PY, DIGITS_YAML, ROOT


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_python_config_reads_upper_and_lower_case(tmp_path):
    path = write(tmp_path, "c.py", """
        trainer = dict(model=dict(name='M', loss=dict(l1=[dict(name='L1Loss')])))
        solver = dict(max_iter=7)
    """)
    cfg = load_cfg(path)
    assert cfg.SOLVER.MAX_ITER == 7 and cfg.solver.max_iter == 7
    assert cfg.TRAINER.MODEL.LOSS.L1[0].NAME == "L1Loss"


def test_private_names_modules_and_functions_are_not_settings(tmp_path):
    path = write(tmp_path, "c.py", """
        import os
        _size = 3
        def helper():
            return 1
        solver = dict(max_iter=_size * 2)
    """)
    assert load_cfg(path).SOLVER.MAX_ITER == 6


def test_seed_loss_alias_fills_trainer_loss_from_model_loss(tmp_path):
    path = write(tmp_path, "c.py", """
        trainer = dict(model=dict(loss=dict(loss1=[dict(name='CrossEntropyLoss', param=dict(lambda_weight=10.))])))
    """)
    cfg = load_cfg(path)
    assert cfg.TRAINER.LOSS == cfg.TRAINER.MODEL.LOSS
    assert cfg.TRAINER.LOSS.LOSS1[0].PARAM.LAMBDA_WEIGHT == 10.0


def test_component_subtrees_accept_any_keys(tmp_path):
    path = write(tmp_path, "c.py", """
        dataloader = dict(train_data_set=dict(name='D', my_data_param='x', nested=dict(a=1)))
    """)
    node = load_cfg(path).DATALOADER.TRAIN_DATA_SET
    assert node.MY_DATA_PARAM == "x" and node.NESTED.A == 1


def test_overrides_are_dotted_any_case_and_literal(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iter=7)\n")
    cfg = load_cfg(path, ["SOLVER.max_iter", "11", "trainer.device", "cpu",
                          "solver.generator.optimizer.params.betas", "(0.8, 0.9)"])
    assert cfg.SOLVER.MAX_ITER == 11 and cfg.TRAINER.DEVICE == "cpu"
    assert tuple(cfg.SOLVER.GENERATOR.OPTIMIZER.PARAMS.BETAS) == (0.8, 0.9)


def test_int_is_accepted_where_a_float_is_expected(tmp_path):
    path = write(tmp_path, "c.py", "trainer = dict(model=dict(ema=dict(decay_rate=1)))\n")
    assert load_cfg(path).TRAINER.MODEL.EMA.DECAY_RATE == 1.0


def test_py_and_yaml_digits_configs_are_the_same_run():
    assert load_cfg(DIGITS_PY) == load_cfg(DIGITS_YAML)


def test_resolved_config_loads_back_identically(tmp_path):
    cfg = load_cfg(DIGITS_PY, ["solver.max_iter", "3"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_cfg(cfg))
    assert load_cfg(str(path)) == cfg


def test_defaults_cover_every_section():
    cfg = get_default_cfg()
    for key in ("OUTPUT_DIR", "OUTPUT_LOG_NAME", "SEED", "DATALOADER", "TRAINER", "SOLVER"):
        assert key in cfg


# ------------------------------------------------------------------ errors
def error_of(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_cfg(path, overrides)
    return str(info.value)


def test_missing_file_is_named(tmp_path):
    message = error_of(str(tmp_path / "nope.py"))
    assert "config file not found" in message and "nope.py" in message


def test_python_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iter=7)\ntrainer = dict(name='x'\n")
    message = error_of(path)
    assert "syntax error" in message and "line 2" in message and "c.py" in message


def test_python_runtime_error_names_the_line(tmp_path):
    path = write(tmp_path, "c.py", "a = 1\nsolver = dict(max_iter=undefined_name)\n")
    message = error_of(path)
    assert "line 2" in message and "NameError" in message


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "c.yaml", "solver:\n  max_iter: 7\n  bad: [1, 2\n")
    message = error_of(path)
    assert "YAML syntax error" in message and "line" in message


def test_unknown_key_suggests_the_nearest_names(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iters=7)\n")
    message = error_of(path)
    assert "unknown config key 'solver.max_iters'" in message
    assert "solver.max_iter" in message and "c.py" in message


def test_unknown_top_level_section_is_reported(tmp_path):
    path = write(tmp_path, "c.py", "trainr = dict(name='x')\n")
    message = error_of(path)
    assert "'trainr'" in message and "trainer" in message


def test_wrong_type_names_key_expected_and_found(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iter='many')\n")
    message = error_of(path)
    assert "solver.max_iter expects an int" in message and "'many'" in message


def test_section_given_a_value_is_reported(tmp_path):
    path = write(tmp_path, "c.py", "solver = 3\n")
    assert "solver must be a section" in error_of(path)


def test_override_without_value_is_reported(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iter=7)\n")
    assert "KEY VALUE pairs" in error_of(path, ["solver.max_iter"])


def test_unknown_override_key_is_reported(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iter=7)\n")
    message = error_of(path, ["solver.max_itr", "3"])
    assert "solver.max_itr" in message and "solver.max_iter" in message


def test_unsupported_extension_is_reported(tmp_path):
    path = write(tmp_path, "c.json", "{}")
    assert "expected a .py, .yaml or .yml file" in error_of(path)


def test_empty_config_is_reported(tmp_path):
    path = write(tmp_path, "c.yaml", "")
    assert "defines no settings" in error_of(path)


def test_yaml_style_booleans_and_none_in_overrides(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(max_iter=7)\n")
    cfg = load_cfg(path, ["trainer.progress_bar", "false", "trainer.model.ema.enabled", "true",
                          "dataloader.train_data_set.extra", "null"])
    assert cfg.TRAINER.PROGRESS_BAR is False and cfg.TRAINER.MODEL.EMA.ENABLED is True
    assert cfg.DATALOADER.TRAIN_DATA_SET.EXTRA is None


def test_a_dict_replacing_a_value_in_a_component_subtree_reads_as_a_section(tmp_path):
    path = write(tmp_path, "c.py", "solver = dict(generator=dict(optimizer=dict(params=dict(lr=dict(base=0.1)))))\n")
    assert load_cfg(path).SOLVER.GENERATOR.OPTIMIZER.PARAMS.LR.BASE == 0.1


CHANGED_DEFAULTS = textwrap.dedent("""
    import json
    import engine.config.defaults as defaults

    made = defaults.get_default_cfg

    def changed():
        cfg = made()
        cfg.TRAINER.MODEL.EMA.DECAY_RATE, cfg.TRAINER.MODEL.EMA.TAU = 0.5, 7.0
        cfg.SOLVER.AMP.INIT_SCALE, cfg.SOLVER.AMP.GROWTH_INTERVAL, cfg.SOLVER.AMP.EVAL = 8.0, 3, False
        cfg.SOLVER.GENERATOR.OPTIMIZER.CLIP_GRADIENTS.CLIP_VALUE = 4.0
        cfg.TRAINER.WEIGHTS_PREFIXES = ["x."]
        return cfg

    defaults.get_default_cfg = changed  # before any component is imported
    import torch
    from engine.checkpoint.weights import DEFAULT_PREFIXES
    from engine.model.ema import ModelEMA, build_ema
    from engine.solver.amp import Amp, build_amp
    from engine.solver.clip import GradientClipper

    net = torch.nn.Linear(1, 1)
    ema, amp = build_ema(net, {"enabled": True}), build_amp({}, torch.device("cpu"))
    print(json.dumps([ema.decay, ema.tau, ModelEMA(net).decay, amp.init_scale, amp.growth_interval,
                      Amp().eval, GradientClipper({"enabled": True}).clip_value, GradientClipper().clip_value,
                      list(DEFAULT_PREFIXES)]))
""")


def test_component_defaults_are_read_from_defaults_py():
    """EMA, AMP, clipping and the weights prefixes are written once, in defaults.py: a
    default changed there is what a partial section (and the classes) get."""
    out = subprocess.run([sys.executable, "-c", CHANGED_DEFAULTS], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [0.5, 7.0, 0.5, 8.0, 3, False, 4.0, 4.0, ["x."]]


def test_partial_option_sections_take_the_defaults_of_the_full_tree():
    import torch
    from engine.model.ema import build_ema
    from engine.solver.amp import build_amp
    from engine.solver.clip import GradientClipper

    full = get_default_cfg()
    ema, amp = build_ema(torch.nn.Linear(1, 1), {"enabled": True}), build_amp({}, torch.device("cpu"))
    assert (ema.decay, ema.warmup, ema.tau, ema.update_every) == (
        full.TRAINER.MODEL.EMA.DECAY_RATE, full.TRAINER.MODEL.EMA.WARMUP, full.TRAINER.MODEL.EMA.TAU,
        full.TRAINER.MODEL.EMA.UPDATE_EVERY)
    assert (amp.enabled, amp.eval, amp.init_scale, amp.growth_interval) == (
        full.SOLVER.AMP.ENABLED, full.SOLVER.AMP.EVAL, full.SOLVER.AMP.INIT_SCALE, full.SOLVER.AMP.GROWTH_INTERVAL)
    clip, full_clip = GradientClipper({"enabled": True}), full.SOLVER.GENERATOR.OPTIMIZER.CLIP_GRADIENTS
    assert (clip.clip_type, clip.clip_value, clip.norm_type) == (
        full_clip.CLIP_TYPE, full_clip.CLIP_VALUE, full_clip.NORM_TYPE)
