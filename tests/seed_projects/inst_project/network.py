import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.loss import LossKeyCompose
from engine.model.build import BUILD_NETWORK_REGISTRY


def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


@BUILD_NETWORK_REGISTRY.register()
class TinySolo(nn.Module):
    """SOLOv2 in miniature: per grid cell a class score and a dynamic kernel that, applied
    to the mask features (stride 4), gives the instance's mask. Its losses are
    LossKeyCompose lists it owns, called in the seed's list form per grid level."""

    def __init__(self, num_classes, channels, num_grids, loss_mask=None, loss_cls=None, kernel_dim=8):
        super(TinySolo, self).__init__()
        self.num_classes, self.num_grids = num_classes, num_grids
        self.backbone = nn.Sequential(conv_bn(3, channels[0], 2), conv_bn(channels[0], channels[1], 2))
        self.mask_feat = nn.Conv2d(channels[1], kernel_dim, 1)
        self.cls_head = nn.Conv2d(channels[1], num_classes, 3, padding=1)
        self.kernel_head = nn.Conv2d(channels[1], kernel_dim, 3, padding=1)
        nn.init.constant_(self.cls_head.bias, -2.0)
        self.with_loss = loss_cls is not None
        if self.with_loss:
            self.loss_cls_fn = LossKeyCompose(dict(cls=loss_cls))
            self.loss_mask_fn = LossKeyCompose(dict(mask=loss_mask))

    def heads(self, img):
        feat = self.backbone(img)
        levels = []
        for s in self.num_grids:
            grid = F.interpolate(feat, size=(s, s), mode='bilinear', align_corners=False)
            levels.append((self.cls_head(grid), self.kernel_head(grid)))
        return self.mask_feat(feat), levels

    def forward_train(self, img, gt_labels, gt_masks):
        mask_feats, levels = self.heads(img)
        height, width = img.shape[-2:]
        loss_mask, num_pos, cls_preds, cls_targets = list(), 0, list(), list()
        for s, (cls, kernels) in zip(self.num_grids, levels):
            target = torch.zeros_like(cls)
            preds, targets = list(), list()
            for b, (labels, masks) in enumerate(zip(gt_labels, gt_masks)):
                masks = F.pad(masks.float(), (0, width - masks.shape[-1], 0, height - masks.shape[-2]))
                for label, mask in zip(labels, masks):
                    ys, xs = torch.nonzero(mask, as_tuple=True)
                    if len(ys) == 0:
                        continue
                    gy = min(int(ys.float().mean() / height * s), s - 1)
                    gx = min(int(xs.float().mean() / width * s), s - 1)
                    target[b, label, gy, gx] = 1.0
                    preds.append((kernels[b, :, gy, gx, None, None] * mask_feats[b]).sum(0))
                    targets.append(F.interpolate(mask[None, None], size=mask_feats.shape[-2:], mode='nearest')[0, 0])
            if preds:
                pred, tgt = torch.stack(preds), torch.stack(targets)
                loss_mask.append(self.loss_mask_fn(dict(mask=[(pred.flatten(1).unsqueeze(0), tgt.flatten(1).unsqueeze(0))])))
                num_pos += len(preds)
            cls_preds.append(cls.permute(0, 2, 3, 1).reshape(-1, self.num_classes))
            cls_targets.append(target.permute(0, 2, 3, 1).reshape(-1, self.num_classes))
        if num_pos > 0:
            loss_mask = torch.cat(loss_mask).sum() / num_pos
        else:  # every parameter takes part in the graph (DDP)
            loss_mask = mask_feats.sum() * 0 + sum(k.sum() for _, k in levels) * 0
        loss_cls = self.loss_cls_fn(dict(cls=[(torch.cat(cls_preds), torch.cat(cls_targets))])) / (num_pos + 1)
        return dict(loss=loss_mask + loss_cls, loss_mask=loss_mask, loss_cls=loss_cls)

    def forward(self, img, score_thr=0.15):
        mask_feats, levels = self.heads(img)
        results = list()
        for b in range(img.shape[0]):
            scores, labels, masks = list(), list(), list()
            for cls, kernels in levels:
                prob = torch.sigmoid(cls[b])
                best, label = prob.max(0)
                for gy, gx in torch.nonzero(best > score_thr).tolist():
                    mask = torch.sigmoid((kernels[b, :, gy, gx, None, None] * mask_feats[b]).sum(0))
                    masks.append(F.interpolate(mask[None, None], size=img.shape[-2:], mode='bilinear')[0, 0] > 0.5)
                    scores.append(best[gy, gx])
                    labels.append(label[gy, gx])
            empty = img.new_zeros((0,) + tuple(img.shape[-2:]), dtype=torch.bool)
            results.append(dict(scores=torch.stack(scores) if scores else img.new_zeros(0),
                                labels=torch.stack(labels) if labels else img.new_zeros(0, dtype=torch.long),
                                masks=torch.stack(masks) if masks else empty))
        return results
