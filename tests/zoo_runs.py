"""Runs of the zero-code tests: a config written from dicts, trained in this process
through engine-train's entry point, and model bundles built from such a config."""
import copy
import os

import torch

from engine.tools import train as train_tool

BASE = dict(
    dataloader=dict(num_workers=0),
    trainer=dict(device="cpu", log_period=1, progress_bar=False),
    solver=dict(max_iter=3, generator=dict(optimizer=dict(type="Adam", params=dict(lr=0.001)))),
)


def _merged(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_config(path, sections: dict) -> str:
    """A .py config: one ``name = value`` line per section (the form users write)."""
    with open(path, "w", encoding="utf-8") as f:
        for name, value in sections.items():
            f.write(f"{name} = {value!r}\n")
    return str(path)


def train_config(root, name: str, sections: dict, argv=()) -> str:
    """Train ``BASE`` + ``sections`` with engine-train (in this process); the run folder."""
    sections = _merged(BASE, sections)
    steps = sections["solver"]["max_iter"]
    sections = _merged(sections, dict(output_dir=str(root), output_log_name=name,
                                      solver=dict(checkpoint_period=steps, eval_period=steps)))
    config = write_config(os.path.join(str(root), f"{name}.py"), sections)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert train_tool.main(["--config-file", config, *argv]) == 0
    finally:
        torch.set_num_threads(threads)
    return os.path.join(str(root), name)


def build_bundle(root, model: dict):
    """The model bundle ``trainer.model = model`` builds (device cpu)."""
    from engine.config.loader import load_cfg
    from engine.model.build import build_model

    config = write_config(os.path.join(str(root), "bundle.py"), _merged(BASE, dict(trainer=dict(model=model))))
    return build_model(load_cfg(config))
