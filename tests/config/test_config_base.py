"""Config inheritance with ``_base_`` (engine/config/inherit.py): the seed's merge, and the
three bad inputs (missing base, cycle, base of another format) as one line, exit 2."""
import logging
import os

import pytest
import yaml

from engine.config import dump_cfg, load_cfg
from engine.schedule.scheduler import BaseScheduler
from engine.utils.errors import ConfigError

GRAND_PY = '''
output_log_name = "grand"
solver = dict(max_iter=100, train_per_batch=4,
              generator=dict(optimizer=dict(type="SGD", params=dict(lr=0.1, momentum=0.9)),
                             lr_scheduler=dict(enabled=True, type="LRMultiplierScheduler",
                                               params=dict(warmup_iter=5,
                                                           lr_scheduler_param=dict(name="WarmupCosineLR")))))
trainer = dict(device="cpu", model=dict(name="M", generator=dict(name="N", width=8, depth=2)))
'''
PARENT_PY = '''
_base_ = "grand.py"
solver = dict(max_iter=50, generator=dict(optimizer=dict(type="AdamW", params=dict(lr=0.01))))
trainer = dict(model=dict(generator=dict(width=16)))
'''
CHILD_PY = '''
_base_ = ["../base/parent.py"]
output_log_name = "child"
solver = dict(generator=dict(lr_scheduler=dict(params=dict(warmup_iter=2))))
'''


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def expected_checks(cfg):
    assert cfg.OUTPUT_LOG_NAME == "child"                       # child wins
    assert cfg.SOLVER.MAX_ITER == 50 and cfg.SOLVER.TRAIN_PER_BATCH == 4  # parent over grand, grand kept
    opt = cfg.SOLVER.GENERATOR.OPTIMIZER
    assert opt.TYPE == "AdamW" and dict(opt.PARAMS) == {"LR": 0.01}  # type changed: grand's momentum gone
    sched = cfg.SOLVER.GENERATOR.LR_SCHEDULER
    assert sched.ENABLED and sched.PARAMS.WARMUP_ITER == 2      # same type: merged key by key
    assert sched.PARAMS.LR_SCHEDULER_PARAM.NAME == "WarmupCosineLR"
    assert dict(cfg.TRAINER.MODEL.GENERATOR) == {"NAME": "N", "WIDTH": 16, "DEPTH": 2}


def test_two_level_python_chain_gives_the_merged_config_yaml(tmp_path):
    write(tmp_path / "base" / "grand.py", GRAND_PY)
    write(tmp_path / "base" / "parent.py", PARENT_PY)
    child = write(tmp_path / "exp" / "child.py", CHILD_PY)
    cfg = load_cfg(child)
    expected_checks(cfg)
    again = write(tmp_path / "config.yaml", dump_cfg(cfg))  # the run's config.yaml: no _base_ left
    assert "_base_" not in open(again).read()
    assert load_cfg(again) == cfg


def test_two_level_yaml_chain_gives_the_merged_config_yaml(tmp_path):
    grand = {"output_log_name": "grand",
             "solver": {"max_iter": 100, "train_per_batch": 4, "generator": {
                 "optimizer": {"type": "SGD", "params": {"lr": 0.1, "momentum": 0.9}},
                 "lr_scheduler": {"enabled": True, "type": "LRMultiplierScheduler", "params": {
                     "warmup_iter": 5, "lr_scheduler_param": {"name": "WarmupCosineLR"}}}}},
             "trainer": {"device": "cpu", "model": {"name": "M", "generator": {"name": "N", "width": 8, "depth": 2}}}}
    parent = {"_base_": "grand.yaml",
              "solver": {"max_iter": 50, "generator": {"optimizer": {"type": "AdamW", "params": {"lr": 0.01}}}},
              "trainer": {"model": {"generator": {"width": 16}}}}
    child = {"_base_": ["../base/parent.yml"], "output_log_name": "child",
             "solver": {"generator": {"lr_scheduler": {"params": {"warmup_iter": 2}}}}}
    write(tmp_path / "base" / "grand.yaml", yaml.safe_dump(grand))
    write(tmp_path / "base" / "parent.yml", yaml.safe_dump(parent))
    path = write(tmp_path / "exp" / "child.yaml", yaml.safe_dump(child))
    cfg = load_cfg(path)
    expected_checks(cfg)
    assert load_cfg(write(tmp_path / "config.yaml", dump_cfg(cfg))) == cfg


def test_later_bases_override_earlier_ones(tmp_path):
    write(tmp_path / "a.py", "solver = dict(max_iter=10, train_per_batch=2)\n")
    write(tmp_path / "b.py", "solver = dict(max_iter=20)\n")
    cfg = load_cfg(write(tmp_path / "c.py", "_base_ = ['a.py', 'b.py']\noutput_log_name = 'c'\n"))
    assert cfg.SOLVER.MAX_ITER == 20 and cfg.SOLVER.TRAIN_PER_BATCH == 2


def exit_and_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        BaseScheduler().schedule(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return info.value.code, lines[0]


def test_missing_base_names_the_chain(tmp_path, capsys):
    write(tmp_path / "parent.py", "_base_ = 'nowhere.py'\nsolver = dict(max_iter=5)\n")
    child = write(tmp_path / "child.py", "_base_ = 'parent.py'\n")
    code, line = exit_and_error(["--config-file", child, "output_dir", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "base config not found: 'nowhere.py'" in line
    assert "child.py' -> " in line and "parent.py'" in line
    assert not (tmp_path / "out").exists()


def test_cycle_names_the_chain(tmp_path, capsys):
    write(tmp_path / "a.yaml", "_base_: b.yaml\nsolver: {max_iter: 5}\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    code, line = exit_and_error(["--config-file", str(tmp_path / "a.yaml")], capsys)
    assert code == 2
    assert "in a cycle" in line and line.count("a.yaml'") == 2 and "b.yaml'" in line


def test_base_of_another_format_is_refused(tmp_path, capsys):
    write(tmp_path / "base.yaml", "solver: {max_iter: 5}\n")
    child = write(tmp_path / "child.py", "_base_ = 'base.yaml'\n")
    code, line = exit_and_error(["--config-file", child], capsys)
    assert code == 2
    assert "is a yaml file but" in line and "a base must have its child's format" in line


def test_base_must_be_a_name_or_a_list_of_names(tmp_path):
    path = write(tmp_path / "c.py", "_base_ = 3\nsolver = dict(max_iter=5)\n")
    with pytest.raises(ConfigError, match="_base_ must be a file name or a list"):
        load_cfg(path)


def test_an_error_inside_a_base_says_it_was_read_as_a_base(tmp_path):
    write(tmp_path / "base.py", "solver = dict(max_iters=5)\n")  # typo in the base
    write(tmp_path / "broken.py", "solver = dict(\n")
    with pytest.raises(ConfigError, match="unknown config key 'solver.max_iters'"):
        load_cfg(write(tmp_path / "c.py", "_base_ = 'base.py'\n"))
    with pytest.raises(ConfigError, match=r"(?s)syntax error.*read as a base: .*d.py' -> .*broken.py'"):
        load_cfg(write(tmp_path / "d.py", "_base_ = 'broken.py'\n"))


# _delete_ (MMEngine's key) and the seed's type rule

BASE_PY = '''
solver = dict(max_iter=100, train_per_batch=4,
              generator=dict(optimizer=dict(type="SGD", params=dict(lr=0.1, momentum=0.9))))
trainer = dict(device="cpu", model=dict(name="M", generator=dict(name="N", width=8, depth=2)))
'''
BASE_YAML = yaml.safe_dump({"solver": {"max_iter": 100, "train_per_batch": 4, "generator": {
    "optimizer": {"type": "SGD", "params": {"lr": 0.1, "momentum": 0.9}}}},
    "trainer": {"device": "cpu", "model": {"name": "M", "generator": {"name": "N", "width": 8, "depth": 2}}}})


def child_of(tmp_path, text, fmt="py"):
    write(tmp_path / f"base.{fmt}", BASE_PY if fmt == "py" else BASE_YAML)
    base = "_base_ = 'base.py'\n" if fmt == "py" else "_base_: base.yaml\n"
    return write(tmp_path / f"child.{fmt}", base + text)


@pytest.mark.parametrize("fmt, text", [
    ("py", "solver = dict(generator=dict(optimizer=dict(_delete_=True, type='SGD', params=dict(lr=0.5))))\n"
           "trainer = dict(model=dict(generator=dict(_delete_=True, name='Other')))\n"),
    ("yaml", "solver: {generator: {optimizer: {_delete_: true, type: SGD, params: {lr: 0.5}}}}\n"
             "trainer: {model: {generator: {_delete_: true, name: Other}}}\n"),
])
def test_delete_replaces_the_base_section_whole(tmp_path, fmt, text):
    cfg = load_cfg(child_of(tmp_path, text, fmt))
    assert dict(cfg.SOLVER.GENERATOR.OPTIMIZER.PARAMS) == {"LR": 0.5}  # same type, yet momentum gone
    assert dict(cfg.TRAINER.MODEL.GENERATOR) == {"NAME": "Other"}       # width and depth gone
    assert cfg.SOLVER.TRAIN_PER_BATCH == 4 and cfg.TRAINER.MODEL.NAME == "M"  # around it: merged
    assert "_delete_" not in dump_cfg(cfg).lower()


def test_delete_false_merges_even_where_the_type_changes(tmp_path):
    cfg = load_cfg(child_of(tmp_path, "solver = dict(generator=dict(optimizer=dict("
                                      "_delete_=False, type='RMSprop', params=dict(lr=0.5))))\n"))
    assert cfg.SOLVER.GENERATOR.OPTIMIZER.TYPE == "RMSprop"
    assert dict(cfg.SOLVER.GENERATOR.OPTIMIZER.PARAMS) == {"LR": 0.5, "MOMENTUM": 0.9}


def test_a_replaced_base_section_stays_replaced_for_the_files_children(tmp_path):
    child_of(tmp_path, "trainer = dict(model=dict(generator=dict(_delete_=True, name='Other')))\n")
    cfg = load_cfg(write(tmp_path / "grandchild.py", "_base_ = 'child.py'\n"
                                                      "trainer = dict(model=dict(generator=dict(width=3)))\n"))
    assert dict(cfg.TRAINER.MODEL.GENERATOR) == {"NAME": "Other", "WIDTH": 3}


def test_delete_in_a_seed_alias_section_applies_to_our_key(tmp_path):
    write(tmp_path / "base.py", "solver = dict(generator=dict(optimizer=dict(clip_gradients=dict("
                                "enabled=True, clip_type='value', clip_value=0.5))))\n")
    cfg = load_cfg(write(tmp_path / "child.py", "_base_ = 'base.py'\nsolver = dict(generator=dict("
                                                 "clip_gradients=dict(_delete_=True, clip_value=2.0)))\n"))
    clip = cfg.SOLVER.GENERATOR.OPTIMIZER.CLIP_GRADIENTS
    assert (clip.ENABLED, clip.CLIP_TYPE, clip.CLIP_VALUE) == (False, "norm", 2.0)  # the rest: defaults


def test_a_type_change_replaces_the_section_and_logs_the_section_and_both_types(tmp_path, caplog):
    path = child_of(tmp_path, "solver = dict(generator=dict(optimizer=dict(type='AdamW', params=dict(lr=0.5))))\n")
    with caplog.at_level(logging.INFO, logger="engine.config"):
        cfg = load_cfg(path)
    assert dict(cfg.SOLVER.GENERATOR.OPTIMIZER.PARAMS) == {"LR": 0.5}
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.config" and r.levelno == logging.INFO]
    assert lines == [f"config file {path!r}: solver.generator.optimizer replaces its base's section whole: its "
                     f"type changes from 'SGD' to 'AdamW' (_delete_=False in it merges instead)"]


def test_a_type_given_where_the_base_gave_none_replaces_the_section_and_says_so(tmp_path, caplog):
    write(tmp_path / "base.py", "solver = dict(generator=dict(lr_scheduler=dict(params=dict(warmup_iter=5))))\n")
    path = write(tmp_path / "child.py", "_base_ = 'base.py'\nsolver = dict(generator=dict(lr_scheduler=dict("
                                        "type='LRMultiplierScheduler', params=dict(max_iter=9))))\n")
    with caplog.at_level(logging.INFO, logger="engine.config"):
        cfg = load_cfg(path)
    assert dict(cfg.SOLVER.GENERATOR.LR_SCHEDULER.PARAMS) == {"MAX_ITER": 9}
    assert "solver.generator.lr_scheduler replaces its base's section whole: its type changes from None to " \
           "'LRMultiplierScheduler'" in caplog.text


@pytest.mark.parametrize("text", [
    "solver = dict(generator=dict(optimizer=dict(type='SGD', params=dict(lr=0.5))))\n",  # same type: merged
    "solver = dict(generator=dict(optimizer=dict(_delete_=True, type='AdamW')))\n",  # _delete_ said it
])
def test_no_type_change_line_where_the_rule_does_not_decide(tmp_path, caplog, text):
    with caplog.at_level(logging.INFO, logger="engine.config"):
        load_cfg(child_of(tmp_path, text))
    assert not [r for r in caplog.records if "replaces its base's section" in r.getMessage()]


@pytest.mark.parametrize("fmt, text, shown", [
    ("py", "solver = dict(generator=dict(optimizer=dict(_delete_='yes')))\n", "got str 'yes'"),
    ("py", "solver = dict(generator=dict(optimizer=dict(_delete_=None)))\n", "got NoneType None"),
    ("yaml", "solver: {generator: {optimizer: {_delete_: 1}}}\n", "got int 1"),
])
def test_delete_that_is_not_a_bool_is_an_error_naming_the_key_and_file(tmp_path, fmt, text, shown):
    path = child_of(tmp_path, text, fmt)
    with pytest.raises(ConfigError) as info:
        load_cfg(path)
    assert str(info.value) == (f"config file {path!r}: solver.generator.optimizer._delete_ must be True (replace "
                               f"the base's section whole) or False (merge into it), {shown}")


@pytest.mark.parametrize("fmt, text, key, why", [
    ("py", "solver = dict(amp=dict(_delete_=True, enabled=True))\n", "solver.amp",
     "its bases have no section solver.amp"),
    ("py", "solver = dict(_delete_=True, generator=dict(optimizer=dict(_delete_=False)))\n",
     "solver.generator.optimizer", "solver replaces its base's section whole"),
    ("py", "trainer = dict(model=dict(generator=dict(layers=[dict(_delete_=True, width=3)])))\n",
     "trainer.model.generator.layers", "a list is replaced whole"),
    ("yaml", "solver: {amp: {_delete_: false}}\n", "solver.amp", "its bases have no section solver.amp"),
])
def test_delete_without_a_base_section_is_an_error_naming_the_key_and_file(tmp_path, fmt, text, key, why):
    path = child_of(tmp_path, text, fmt)
    with pytest.raises(ConfigError) as info:
        load_cfg(path)
    assert str(info.value) == (f"config file {path!r}: {key}._delete_: there is no base section to replace "
                               f"({why}); remove _delete_")


def test_delete_in_a_file_without_base_at_its_top_level_or_in_an_override_is_an_error(tmp_path, capsys):
    alone = write(tmp_path / "alone.py", "solver = dict(generator=dict(optimizer=dict(_delete_=True)))\n")
    code, line = exit_and_error(["--config-file", alone, "output_dir", str(tmp_path / "out")], capsys)
    assert code == 2 and not (tmp_path / "out").exists()
    assert line == (f"error: config file {alone!r}: solver.generator.optimizer._delete_: there is no base section "
                    f"to replace (the file has no _base_); remove _delete_")
    top = child_of(tmp_path, "_delete_: true\n", "yaml")
    with pytest.raises(ConfigError, match=rf"config file '{top}': _delete_ at the top level means nothing"):
        load_cfg(top)
    with pytest.raises(ConfigError, match=r"command-line override 'solver.generator.optimizer': "
                                          r"solver.generator.optimizer._delete_: there is no base section"):
        load_cfg(child_of(tmp_path, "seed = 1\n"), ["solver.generator.optimizer", "{'_delete_': True}"])
