"""The seed's config conventions: helper variables in .py files, the seed's leftovers
in LR shapes (as SDWSeg, a project published on the seed, writes them)."""
import logging

import pytest

from engine.config.loader import load_cfg
from engine.utils.errors import ConfigError


def write(tmp_path, text, name="cfg.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_top_level_names_that_are_not_sections_are_helper_variables(tmp_path):
    path = write(tmp_path, "img_size = 608\nnum_classes = 3\nnorm_cfg = dict(type='BN')\n"
                           "model = dict(name='Net', num_classes=num_classes)\n"
                           "t_transformer = [dict(name='Resize', target_size=img_size)]\n"
                           "solver = dict(max_iter=7)\n")
    cfg = load_cfg(path)
    assert cfg.SOLVER.MAX_ITER == 7
    assert "MODEL" not in cfg and "IMG_SIZE" not in cfg and "T_TRANSFORMER" not in cfg


def test_helper_variables_of_base_files_feed_the_child_but_are_not_settings(tmp_path):
    write(tmp_path, "max_iter = 11\nsolver = dict(max_iter=max_iter)\n", "base.py")
    cfg = load_cfg(write(tmp_path, "_base_ = './base.py'\nimg_root = 'data'\noutput_dir = img_root\n"))
    assert cfg.SOLVER.MAX_ITER == 11 and cfg.OUTPUT_DIR == "data"


@pytest.mark.parametrize("name", ["solvr", "Trainer_", "dataloder"])
def test_a_name_spelled_nearly_like_a_section_is_still_an_unknown_key(tmp_path, name):
    with pytest.raises(ConfigError, match=f"unknown config key '{name.lower()}'"):
        load_cfg(write(tmp_path, f"{name} = dict(max_iter=3)\n"))


def test_yaml_top_level_keys_are_all_settings(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'img_size'"):
        load_cfg(write(tmp_path, "img_size: 608\n", "cfg.yaml"))


def test_warmup_cosine_shape_ignores_the_seeds_gamma_and_steps_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, "solver = dict(max_iter=100, generator=dict(lr_scheduler=dict(enabled=True, "
                           "type='LRMultiplierScheduler', params=dict(lr_scheduler_param=dict(name='WarmupCosineLR', "
                           "gamma=0.1, steps=[50]), warmup_factor=0.01, warmup_iter=10, max_iter=100))))\n")
    with caplog.at_level(logging.WARNING, logger="engine.config"):
        cfg = load_cfg(path)
    shape = cfg.SOLVER.GENERATOR.LR_SCHEDULER.PARAMS.LR_SCHEDULER_PARAM
    assert set(k.upper() for k in shape) == {"NAME"}
    assert "steps is ignored by WarmupCosineLR" in caplog.text and "gamma is ignored" in caplog.text


def test_a_multistep_shape_keeps_its_gamma_and_steps(tmp_path):
    path = write(tmp_path, "solver = dict(max_iter=100, generator=dict(lr_scheduler=dict(enabled=True, "
                           "type='LRMultiplierScheduler', params=dict(lr_scheduler_param=dict(name='WarmupMultiStepLR', "
                           "gamma=0.1, steps=[50]), max_iter=100))))\n")
    shape = load_cfg(path).SOLVER.GENERATOR.LR_SCHEDULER.PARAMS.LR_SCHEDULER_PARAM
    assert shape.GAMMA == 0.1 and list(shape.STEPS) == [50]
