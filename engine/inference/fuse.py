"""``--fuse-conv-bn``: fold each BatchNorm that directly follows a convolution into it.

torch's own arithmetic (``torch.nn.utils.fusion.fuse_conv_bn_eval``) is used; a pair is
two consecutive children of one container (``nn.Sequential`` or the attribute order of a
module), the usual ``Conv -> BN -> activation`` blocks. The BN becomes ``nn.Identity``,
so the outputs are those of the unfused network in eval mode (up to rounding).
"""
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fuse_conv_bn"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fuse_conv_bn(network: nn.Module) -> int:
    """Fuse in place (the network is put in eval mode); returns the number of pairs fused."""
    network.eval()
    fused = 0
    with torch.no_grad():
        for parent in list(network.modules()):
            children = list(parent.named_children())
            for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
                if isinstance(conv, _CONVS) and isinstance(bn, _BNS) and bn.track_running_stats:
                    setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                    setattr(parent, bn_name, nn.Identity())
                    fused += 1
    return fused
