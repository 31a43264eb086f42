"""onnx.name empty: the generator when it takes the export's tensors, the network itself
when the generator wants the seed's batch dict; a shape the network refuses stays the
generator's (the export's input check names it); a generator broken before its network
is an error, never a silently different graph."""
import pytest
import torch
from torch import nn

from engine.export import GeneratorWrapper, NetworkWrapper, default_wrapper
from engine.utils.errors import EngineError

from seed_style_net import SeedStyleNet


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
        assert line.startswith("onnx: Bundle.generator takes the seed's batch dict, not tensors (")
        assert line.endswith("); exporting the network g_model itself, as the seed's export tool did "
                             "(onnx.name names another graph)")
    else:
        assert said == []


def test_a_shape_the_network_refuses_keeps_the_generator():
    # the failure is inside the network: the inputs' fault, reported by the export's input check
    said = []
    wrapper = default_wrapper(Bundle(tensor_generator), [torch.randn(3, 5)], said.append)
    assert type(wrapper) is GeneratorWrapper and said == []


def broken_generator(model, x):
    return model.g_model(x * model.scale_)  # a typo: no such attribute


def checking_generator(model, x):
    if x.min() < 0:
        raise ValueError("expects images in [0, 1]")
    return model.g_model(x)


@pytest.mark.parametrize("generator, reason", [(broken_generator, "AttributeError: 'Bundle' object has no attribute"),
                                               (checking_generator, "ValueError: expects images in [0, 1]")])
def test_a_generator_failing_before_its_network_is_an_error_not_another_graph(generator, reason):
    with pytest.raises(EngineError) as e:
        default_wrapper(Bundle(generator), [torch.randn(3, 4)], print)
    message = str(e.value)
    assert message.startswith("onnx: Bundle.generator failed on the input tensors before reaching its network (")
    assert reason in message and "set onnx.name to an export wrapper (NetworkWrapper: the network alone)" in message


def seed_method_generator(model, data):
    # the seed projects' form: two keys read, then a method of the network
    img, gt = data["img"], data["gt_semantic_seg"]
    return model.g_model.forward_test(img, gt)


def method_generator(model, x):
    return model.g_model.forward_test(x)


def test_a_seed_generator_reading_several_keys_and_calling_a_method_exports_the_network():
    bundle = Bundle(seed_method_generator)
    bundle.g_model = SeedStyleNet()  # 3 features in
    said = []
    assert type(default_wrapper(bundle, [torch.randn(3, 3)], said.append)) is NetworkWrapper and len(said) == 1


def test_a_shape_refused_inside_a_method_of_the_network_keeps_the_generator():
    bundle = Bundle(method_generator)
    bundle.g_model = SeedStyleNet()
    assert type(default_wrapper(bundle, [torch.randn(3, 5)], print)) is GeneratorWrapper
