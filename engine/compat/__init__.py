"""What exists for another system's sake, kept out of the core.

``seed/``: the seed engine's (shengdewu/TrainFramework, released as engine_frame 3.0)
module paths, names and runtime contract, so that a project written for it runs
unmodified. Each piece maps onto the core's own mechanism (its checkpoint manager saves
through our atomic, checksummed checkpointer; its EMA is our EMA), so nothing forks.
The core (trainer, model, config, data, transforms, loss, solver) carries one name per
extension point; the seed's spellings of them are listed in doc/seed.md.
"""
