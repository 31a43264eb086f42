"""onnx.name empty: the generator when it takes the export's tensors, the network itself
when the generator wants the seed's batch dict; a shape the network refuses stays the
generator's (the export's input check names it)."""
import pytest
import torch
from torch import nn

from engine.export import GeneratorWrapper, NetworkWrapper, default_wrapper


class Bundle:
    """The parts of a model bundle an export wrapper uses."""

    def __init__(self, generator):
        self.g_model = nn.Linear(4, 2)
        self._generator = generator

    def generator(self, data):
        return self._generator(self, data)


def tensor_generator(model, x):
    return model.g_model(x).softmax(-1)


def seed_generator(model, data):
    return model.g_model(data["img"])


@pytest.mark.parametrize("generator, kind", [(tensor_generator, GeneratorWrapper), (seed_generator, NetworkWrapper)])
def test_the_default_graph_is_the_generator_unless_it_cannot_take_tensors(generator, kind):
    said = []
    wrapper = default_wrapper(Bundle(generator), [torch.randn(3, 4)], said.append)
    assert type(wrapper) is kind and not wrapper.training
    x = torch.randn(5, 4)
    expected = generator(wrapper._model[0], x) if kind is GeneratorWrapper else wrapper.network(x)
    assert torch.equal(wrapper(x), expected)
    if kind is NetworkWrapper:
        (line,) = said  # the reason is torch's error for data["img"] on a tensor
        assert line.startswith("onnx: Bundle.generator cannot take tensor inputs (")
        assert line.endswith("); exporting the network g_model itself, as the seed's export tool did "
                             "(onnx.name names another graph)")
    else:
        assert said == []


def test_a_shape_the_network_refuses_keeps_the_generator():
    # the failure is inside the network: the inputs' fault, reported by the export's input check
    said = []
    wrapper = default_wrapper(Bundle(tensor_generator), [torch.randn(3, 5)], said.append)
    assert type(wrapper) is GeneratorWrapper and said == []
