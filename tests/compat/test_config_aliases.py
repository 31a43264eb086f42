"""The seed's key locations as aliases of ours (engine/compat/seed/config_aliases.py): one test per
alias, the conflict rule, and the seed's new keys (test split, epoch mode, paradigm)."""
import pytest

from engine.config import load_cfg
from engine.utils.errors import ConfigError


def cfg_of(tmp_path, text, overrides=()):
    path = tmp_path / "c.py"
    path.write_text(text)
    return load_cfg(str(path), list(overrides))


def test_solver_ema_is_trainer_model_ema(tmp_path):
    cfg = cfg_of(tmp_path, "solver = dict(ema=dict(enabled=True, decay_rate=0.99, num_updates=0))\n")
    ema = cfg.TRAINER.MODEL.EMA
    assert ema.ENABLED is True and ema.DECAY_RATE == 0.99 and ema.WARMUP == "ratio"
    assert "EMA" not in cfg.SOLVER


def test_solver_ema_num_updates_none_is_no_warmup_and_others_are_refused(tmp_path):
    cfg = cfg_of(tmp_path, "solver = dict(ema=dict(enabled=True, num_updates=None))\n")
    assert cfg.TRAINER.MODEL.EMA.WARMUP == "none"
    with pytest.raises(ConfigError, match="solver.ema.num_updates 5: only None"):
        cfg_of(tmp_path, "solver = dict(ema=dict(num_updates=5))\n")


def test_trainer_model_ema_enable_is_enabled(tmp_path):
    """The seed's README writes ``ema=dict(enable=True)``; our key is ``enabled``, as for
    amp, clip_gradients and lr_scheduler."""
    cfg = cfg_of(tmp_path, "trainer = dict(model=dict(ema=dict(enable=True)))\n")
    assert cfg.TRAINER.MODEL.EMA.ENABLED is True and "ENABLE" not in cfg.TRAINER.MODEL.EMA
    assert cfg_of(tmp_path, "seed = 1\n", ["trainer.model.ema.enable", "True"]).TRAINER.MODEL.EMA.ENABLED is True
    assert cfg_of(tmp_path, "solver = dict(ema=dict(enable=True))\n").TRAINER.MODEL.EMA.ENABLED is True


def test_solver_generator_clip_gradients_is_the_optimizers(tmp_path):
    cfg = cfg_of(tmp_path, "solver = dict(generator=dict(clip_gradients=dict("
                           "enabled=True, clip_type='value', clip_value=0.5)))\n")
    clip = cfg.SOLVER.GENERATOR.OPTIMIZER.CLIP_GRADIENTS
    assert clip.ENABLED is True and clip.CLIP_TYPE == "value" and clip.CLIP_VALUE == 0.5
    assert "CLIP_GRADIENTS" not in cfg.SOLVER.GENERATOR


def test_solver_val_per_batch_is_test_per_batch(tmp_path):
    assert cfg_of(tmp_path, "solver = dict(val_per_batch=3)\n").SOLVER.TEST_PER_BATCH == 3


def test_alias_on_the_command_line(tmp_path):
    cfg = cfg_of(tmp_path, "solver = dict(test_per_batch=8)\n",
                 ["solver.val_per_batch", "4", "solver.ema.enabled", "True",
                  "solver.generator.clip_gradients", "{'enabled': True}"])
    assert cfg.SOLVER.TEST_PER_BATCH == 4  # a later source wins, as for any key
    assert cfg.TRAINER.MODEL.EMA.ENABLED is True
    assert cfg.SOLVER.GENERATOR.OPTIMIZER.CLIP_GRADIENTS.ENABLED is True


def test_alias_and_our_key_with_different_values_is_an_error_naming_both(tmp_path):
    with pytest.raises(ConfigError) as info:
        cfg_of(tmp_path, "solver = dict(val_per_batch=3, test_per_batch=5)\n")
    message = str(info.value)
    assert "solver.val_per_batch (the seed's name) and solver.test_per_batch are the same setting" in message
    assert "(3 and 5)" in message
    with pytest.raises(ConfigError, match=r"solver.ema.enabled \(the seed's name\) and trainer.model.ema.enabled"):
        cfg_of(tmp_path, "solver = dict(ema=dict(enabled=True))\n"
                         "trainer = dict(model=dict(ema=dict(enabled=False)))\n")
    with pytest.raises(ConfigError, match=r"trainer.model.ema.enable \(the seed's name\) and trainer.model.ema.enabled "
                                          r"are the same setting, given different values \(True and False\)"):
        cfg_of(tmp_path, "trainer = dict(model=dict(ema=dict(enable=True, enabled=False)))\n")
    with pytest.raises(ConfigError, match="solver.ema.num_updates .* trainer.model.ema.warmup"):
        cfg_of(tmp_path, "solver = dict(ema=dict(num_updates=0))\n"
                         "trainer = dict(model=dict(ema=dict(warmup='exp')))\n")


def test_alias_and_our_key_with_the_same_value_is_fine(tmp_path):
    cfg = cfg_of(tmp_path, "solver = dict(val_per_batch=5, test_per_batch=5)\n")
    assert cfg.SOLVER.TEST_PER_BATCH == 5


def test_alias_in_a_base_and_our_key_in_the_child(tmp_path):
    (tmp_path / "base.py").write_text("solver = dict(val_per_batch=3)\n")
    cfg = cfg_of(tmp_path, "_base_ = 'base.py'\nsolver = dict(test_per_batch=6)\n")
    assert cfg.SOLVER.TEST_PER_BATCH == 6  # translated per file: the child wins


def test_an_unknown_key_under_an_alias_names_our_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'solver.generator.optimizer.clip_gradients.group'"):
        cfg_of(tmp_path, "solver = dict(generator=dict(clip_gradients=dict(group=True)))\n")


def test_trainer_loss_is_trainer_model_loss_and_reads_back_as_trainer_loss(tmp_path):
    """The seed's config writes trainer.model.loss while its model reads cfg.TRAINER.LOSS:
    one setting, moved to ours as read and copied back once merged."""
    entry = "[dict(name='L1Loss', param=dict(lambda_weight=2.0))]"
    cfg = cfg_of(tmp_path, f"trainer = dict(loss=dict(l1={entry}))\n")
    assert cfg.TRAINER.MODEL.LOSS.L1[0].PARAM.LAMBDA_WEIGHT == 2.0
    assert cfg.TRAINER.LOSS == cfg.TRAINER.MODEL.LOSS


def test_trainer_loss_on_the_command_line_changes_the_files_model_loss(tmp_path):
    cfg = cfg_of(tmp_path, "trainer = dict(model=dict(loss=dict(l1=[dict(name='L1Loss')])))\n",
                 ["trainer.loss.l1", "[{'name': 'MSELoss'}]"])
    assert cfg.TRAINER.MODEL.LOSS.L1[0].NAME == "MSELoss" and cfg.TRAINER.LOSS.L1[0].NAME == "MSELoss"


def test_trainer_loss_and_trainer_model_loss_with_different_entries_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer.loss.l1 \(the seed's name\) and trainer.model.loss.l1 are the "
                                          r"same setting"):
        cfg_of(tmp_path, "trainer = dict(loss=dict(l1=[dict(name='L1Loss')]), "
                         "model=dict(loss=dict(l1=[dict(name='MSELoss')])))\n")
    with pytest.raises(ConfigError, match=r"trainer.loss must be a section \(a dict\), got"):
        cfg_of(tmp_path, "trainer = dict(loss=[dict(name='L1Loss')])\n")


def test_test_data_set_is_a_third_split(tmp_path):
    cfg = cfg_of(tmp_path, "dataloader = dict(test_data_set=dict(name='DigitsDataset', split='val'))\n")
    assert cfg.DATALOADER.TEST_DATA_SET.NAME == "DigitsDataset"
    assert cfg.DATALOADER.TEST_DATA_SET.SPLIT == "val"  # free-form: constructor arguments


def test_enable_epoch_method_is_a_checked_bool(tmp_path):
    assert cfg_of(tmp_path, "trainer = dict(enable_epoch_method=True)\n").TRAINER.ENABLE_EPOCH_METHOD is True
    with pytest.raises(ConfigError, match="trainer.enable_epoch_method expects a bool"):
        cfg_of(tmp_path, "trainer = dict(enable_epoch_method=1)\n")


def test_paradigm_keys_exist_with_one_process_values(tmp_path):
    paradigm = cfg_of(tmp_path, "seed = 1\n").TRAINER.PARADIGM
    assert dict(paradigm) == {"TYPE": "NORMAL", "GPU_ID": None, "GLOBAL_RANK": 0,
                              "WORLD_SIZE": 1, "NUM_PER_GPUS": 1}


@pytest.mark.parametrize("warmup", ["exp", "ratio"])
def test_num_updates_none_beside_another_warmup_is_refused(tmp_path, warmup):
    with pytest.raises(ConfigError, match=r"solver.ema.num_updates .* trainer.model.ema.warmup .* \('none' and"):
        cfg_of(tmp_path, "solver = dict(ema=dict(num_updates=None))\n"
                         f"trainer = dict(model=dict(ema=dict(warmup={warmup!r})))\n")
    cfg = cfg_of(tmp_path, "solver = dict(ema=dict(num_updates=None))\n"
                           "trainer = dict(model=dict(ema=dict(warmup='none')))\n")
    assert cfg.TRAINER.MODEL.EMA.WARMUP == "none"
