"""The bundled example projects. Importing this package registers their components
(datasets, networks, models) with the engine's registries; train.py does
``from codes import *`` for that reason."""
from .digits import *  # noqa: F401,F403
from .digits_gan import *  # noqa: F401,F403
from .digits_scenes import *  # noqa: F401,F403
from .digits_seg import *  # noqa: F401,F403
from .digits_det import *  # noqa: F401,F403
from .digits_embed import *  # noqa: F401,F403
