"""A network's own method, called by the model, runs as one call of the network
(engine/model/method_calls.py): what DDP, FSDP and torch.compile put around the call
sees it, a ``self(x)`` inside it still reaches the class's forward, a method called from
inside a forward runs as it is, and a deep copy routes the copy."""
import copy

import torch
from torch import nn

from engine.model.method_calls import call_as_forward, is_network_method, route_methods

from seed_style_net import SeedStyleNet


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.calls = 0
        self.register_forward_pre_hook(lambda *_: setattr(self, "calls", self.calls + 1))

    def forward(self, x):
        return self.fc(x) + self.bias_of(x)

    def bias_of(self, x):  # a helper forward calls: not a call of its own
        return torch.zeros(len(x), 2)

    def forward_train(self, x, target):  # the seed's way, calling self(x) and self.forward(x)
        return torch.nn.functional.mse_loss(self(x) + self.forward(x), target)

    def train(self, mode=True):  # an override of nn.Module's API: never routed
        self.trained_as = mode
        return super().train(mode)


def test_a_routed_method_is_one_call_of_the_network_and_reaches_the_class_forward_inside():
    net, x, y = Net(), torch.randn(4, 3), torch.randn(4, 2)
    expected = torch.nn.functional.mse_loss(2 * net.fc(x), y)
    assert route_methods(net) == ["bias_of", "forward_train"]
    assert torch.equal(net.forward_train(x, y), expected)
    assert net.calls == 2  # the routed call, then self(x) inside it; self.forward(x) is no call
    net.calls = 0
    assert torch.equal(net(x), net.fc(x)) and net.calls == 1  # bias_of inside forward: no call
    assert torch.equal(net.bias_of(x), torch.zeros(4, 2)) and net.calls == 2  # from outside: a call
    assert route_methods(net) == ["bias_of", "forward_train"]  # twice: the same
    calls = net.calls
    net.eval()
    assert net.trained_as is False and not net.training and net.calls == calls
    assert list(net.state_dict()) == ["fc.weight", "fc.bias"]


def test_a_wrapper_calls_the_network_with_the_method_as_its_forward():
    net, x, y = Net(), torch.randn(4, 3), torch.randn(4, 2)
    seen = []

    class Wrapper(nn.Module):  # as DDP: its forward calls the network
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args):
            seen.append(len(args))
            return self.module(*args)

    out = call_as_forward(Wrapper(net), net, "forward_train", x, y)
    assert torch.equal(out, torch.nn.functional.mse_loss(2 * net.fc(x), y)) and seen == [2]
    assert torch.equal(net(x), net.fc(x))  # the next call is forward again


def test_a_deep_copy_of_a_routed_network_runs_its_own_weights():
    net, x = Net(), torch.randn(4, 3)
    route_methods(net)
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin.fc.weight.zero_(), twin.fc.bias.fill_(1.0)
    assert torch.equal(twin.forward_train(x, torch.ones(4, 2)), torch.tensor(1.0))  # (1 + 1 - 1)^2
    assert torch.equal(twin(x), torch.ones(4, 2)) and not torch.equal(net(x), torch.ones(4, 2))


def test_is_network_method_knows_bound_and_routed_methods():
    net, other = Net(), Net()
    assert is_network_method(net, "forward_train", net.forward_train)
    assert not is_network_method(net, "forward", net.forward)
    assert not is_network_method(net, "forward_train", other.forward_train)
    route_methods(net)
    assert is_network_method(net, "forward_train", net.forward_train)
    assert not is_network_method(net, "fc", net.fc)


def test_each_network_class_has_its_own_dispatching_code():
    # torch.compile keeps its graphs per code object: one shared copy would hold every
    # network's graphs under one recompile limit
    class Other(Net):
        pass

    a, b, c = Net(), Net(), Other()
    for net in (a, b, c):
        route_methods(net)
    assert a.forward.__func__ is b.forward.__func__
    assert a.forward.__func__.__code__ is not c.forward.__func__.__code__


def test_signatures_are_the_methods_own():
    import inspect

    net = Net()
    route_methods(net)
    assert list(inspect.signature(net.forward).parameters) == ["x"]
    assert list(inspect.signature(net.forward_train).parameters) == ["x", "target"]


def test_a_staticmethod_overriding_a_method_is_not_routed():
    class Scaled(Net):
        @staticmethod
        def bias_of(x):
            return torch.ones(len(x), 2)

    net, x = Scaled(), torch.randn(4, 3)
    assert route_methods(net) == ["forward_train"]
    assert torch.equal(net.bias_of(x), torch.ones(4, 2))


def test_a_pickled_routed_network_routes_again():
    import pickle

    net, x, y = SeedStyleNet(), torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    route_methods(net)
    twin = pickle.loads(pickle.dumps(net))
    assert torch.equal(twin.forward_train(x, y), torch.nn.functional.cross_entropy(twin.fc(x), y))
    assert torch.equal(twin(x), twin.fc(x))


def test_a_forward_or_method_set_on_the_instance_is_kept():
    net, x, y = Net(), torch.randn(4, 3), torch.randn(4, 2)
    net.forward = lambda x: torch.zeros(len(x), 2)  # e.g. a forward wrapped in autocast
    net.encode = lambda x: x.sum(1)  # a method bound on the instance
    route_methods(net)
    assert torch.equal(net(x), torch.zeros(4, 2))
    assert torch.equal(call_as_forward(net, net, "encode", x), x.sum(1))
    assert torch.equal(net.forward_train(x, y), torch.nn.functional.mse_loss(torch.zeros(4, 2), y))
