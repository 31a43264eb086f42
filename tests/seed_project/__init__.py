"""The seed's "simple use" example (trainframework-readme, steps 1-5), as written.

Only what the seed leaves to the user is filled in: the network (``MyNetwork``), the
list ``self.dataset`` of (image path, label) pairs (real digit images written as PNG
files by the test), and the imports the seed's snippets omit (``torch``, ``List``).
The seed's dataset constructor names its parameter ``my_param`` while its config passes
``my_data_param``; the config's name is used here so the two agree.
"""
from .my_network import MyNetwork
from .my_model import MyModel
from .my_trainer import MyTrainer
from .my_dataset import MyDataset
