"""The seed's loss module paths (``engine.loss.ce_loss``, ``engine.loss.torch_loss``...),
mapped here by ``engine/compat/seed/modules.py``. The losses are the core's own classes
(engine/loss/); these modules only hand them on under the seed's names, plus the few
names that exist only for the seed (``LossReduction``, ``LossContainer``...)."""
