"""The seed's ``CheckPointerManager``: when a seed trainer saves, and what resume returns.

Its rule, kept: ``save(model, i)`` writes ``<prefix>_<i:07d>.pth`` when ``(i + 1)`` is a
multiple of ``check_period`` and ``<prefix>_final.pth`` from ``i >= max_iter - 1`` on;
``model`` is a seed-style bundle (``get_state_dict()``, ``get_addition_state_dict()``).
The files are written by our checkpointer (checkpoint_state_dict.py): atomic, checksummed,
pruned to the ``max_keep`` newest periodic ones.
"""
from typing import Optional

from .checkpoint_state_dict import CheckPointStateDict

__all__ = ["CheckPointerManager"]


class CheckPointerManager:
    def __init__(self, max_iter: Optional[int] = None, save_dir: str = "", check_period: int = 0,
                 file_prefix: str = "model", max_keep: Optional[int] = None,
                 *, save_to_disk: bool = True):
        self.checkpointer = CheckPointStateDict(save_dir, save_to_disk=save_to_disk,
                                                file_prefix=file_prefix, max_keep=max_keep)
        self.check_period = check_period
        self.max_iter = max_iter
        self.file_prefix = file_prefix
        self.max_keep = max_keep

    @staticmethod
    def compose_state_dict(model, iteration):
        checkpointables = dict(model.get_addition_state_dict())
        checkpointables["iteration"] = iteration
        return model.get_state_dict(), checkpointables

    def save(self, model, iteration) -> None:
        iteration = int(iteration)
        if not self.checkpointer.checkpointer.enabled:
            return  # not the main process (the seed composed the state dicts anyway)
        # check_period 0 (the seed's default) means no periodic files, not a ZeroDivisionError
        if self.check_period and (iteration + 1) % self.check_period == 0:
            state_dict, checkpointables = self.compose_state_dict(model, iteration)
            self.checkpointer.save(f"{self.file_prefix}_{iteration:07d}", state_dict, **checkpointables)
        if self.max_iter is not None and iteration >= self.max_iter - 1:
            state_dict, checkpointables = self.compose_state_dict(model, iteration)
            self.checkpointer.save(f"{self.file_prefix}_final", state_dict, **checkpointables)

    def resume_or_load(self, model_path, resume=True):
        """``(model state, addition state, start iteration)``: the newest checkpoint's when
        resuming (addition without ``iteration``, start one past it), else ``model_path``'s
        model state alone (``(state, None, 0)``; ``(None, None, 0)`` for no path)."""
        model_state_dict, checkpointables = self.checkpointer.resume_or_load(model_path, resume=resume)
        start_iter = 0
        if resume and self.checkpointer.has_checkpoint():
            if checkpointables is not None:
                start_iter = int(checkpointables.pop("iteration", -1)) + 1
        else:
            checkpointables = None
        return model_state_dict, checkpointables, start_iter
