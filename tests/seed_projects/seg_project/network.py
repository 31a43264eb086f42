import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.model import BUILD_NETWORK_REGISTRY
from engine.loss import LossKeyCompose


def conv_bn(cin, cout, stride, norm_cfg):
    layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False)]
    if norm_cfg['type'] == 'BN':
        layers.append(nn.BatchNorm2d(cout))
    else:
        layers.append(nn.GroupNorm(norm_cfg.get('num_groups', 4), cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(self, in_channels, channels, norm_cfg):
        super(Encoder, self).__init__()
        stages = []
        cin = in_channels
        for i, c in enumerate(channels):
            stages.append(conv_bn(cin, c, 1 if i == 0 else 2, norm_cfg))
            cin = c
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


class SegHead(nn.Module):
    def __init__(self, in_channels, num_classes, norm_cfg, loss_cfg):
        super(SegHead, self).__init__()
        self.fuse = conv_bn(sum(in_channels), in_channels[0], 1, norm_cfg)
        self.cls = nn.Conv2d(in_channels[0], num_classes, 1)
        self.loss = LossKeyCompose(loss_cfg)

    def forward(self, feats):
        size = feats[0].shape[2:]
        x = torch.cat([feats[0]] + [F.interpolate(f, size=size, mode='bilinear', align_corners=False)
                                    for f in feats[1:]], dim=1)
        return self.cls(self.fuse(x))

    def forward_train(self, feats, gt_semantic_seg):
        logits = self.forward(feats)
        loss = self.loss(dict(seg_loss=[dict(input=logits, target=gt_semantic_seg)]))
        acc = (logits.argmax(dim=1) == gt_semantic_seg[:, 0]).float().mean()
        return loss, acc


@BUILD_NETWORK_REGISTRY.register()
class EncoderDecoder(nn.Module):
    def __init__(self, encoder, decoder, num_classes):
        super(EncoderDecoder, self).__init__()
        self.encoder = Encoder(**encoder)
        self.decode_head = SegHead(num_classes=num_classes, **decoder)

    def forward(self, img):
        return self.decode_head(self.encoder(img))

    def forward_train(self, img, gt_semantic_seg):
        loss, acc = self.decode_head.forward_train(self.encoder(img), gt_semantic_seg)
        return loss, acc.item()

    def forward_test(self, img, gt_semantic_seg=None):
        logits = self.forward(img)
        return logits.argmax(dim=1)
