"""CenterNet training targets and loss: Gaussian heat maps at box centres, size and
offset regressed at the centre cell only.

The penalty-reduced focal loss (Law & Deng, CornerNet) lets cells near a centre count
less as negatives, so the heat map learns a peak rather than a single hot pixel.
"""
import math
from typing import List, Tuple

import torch
from torch.nn import functional as nnf

__all__ = ["build_targets", "centernet_loss"]


def _radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """The Gaussian radius at which a box shifted by it still has IoU >= min_overlap
    (CornerNet's third case, the tightest of its three bounds)."""
    a, b = 4.0, 2 * (h + w)
    c = (1 - min_overlap) * w * h
    return max(0.0, (b - math.sqrt(b * b - 4 * a * c)) / (2 * a))


def build_targets(boxes: List[torch.Tensor], labels: List[torch.Tensor], num_classes: int,
                  shape: Tuple[int, int], stride: int):
    """Per batch: heat map N x C x h x w, and for each box its image, cell (y, x), size
    (w, h in pixels) and centre offset inside the cell."""
    n, (h, w) = len(boxes), shape
    heat = torch.zeros(n, num_classes, h, w)
    ys, xs = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w, dtype=torch.float32)[None, :]
    index, cells, sizes, offsets = [], [], [], []
    for i, (bb, lab) in enumerate(zip(boxes, labels)):
        for box, cls in zip(bb.tolist(), lab.tolist()):
            bw, bh = box[2] - box[0], box[3] - box[1]
            if bw <= 0 or bh <= 0:
                continue
            cx, cy = (box[0] + box[2]) / 2 / stride, (box[1] + box[3]) / 2 / stride
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sigma = max(0.5, (2 * _radius(bh / stride, bw / stride) + 1) / 6)
            g = torch.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma * sigma))
            heat[i, cls] = torch.maximum(heat[i, cls], g)
            index.append(i)
            cells.append((iy, ix))
            sizes.append((bw, bh))
            offsets.append((cx - ix, cy - iy))
    return heat, index, cells, torch.tensor(sizes).reshape(-1, 2), torch.tensor(offsets).reshape(-1, 2)


def centernet_loss(outputs, boxes, labels, stride: int):
    """``dict(heatmap=focal, size=L1 (in cells), offset=L1)`` averaged over objects."""
    heat_logits, size, offset = outputs
    heat, index, cells, sizes, offsets = build_targets(
        boxes, labels, heat_logits.shape[1], tuple(heat_logits.shape[-2:]), stride)
    heat = heat.to(heat_logits.device)
    p = heat_logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = heat.eq(1).float()
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg_loss = -(torch.log(1 - p) * p ** 2 * (1 - heat) ** 4 * (1 - positive)).sum()
    count = max(1.0, float(positive.sum()))
    losses = {"heatmap": (pos_loss + neg_loss) / count}
    if index:
        i = torch.tensor(index, device=size.device)
        yy = torch.tensor([c[0] for c in cells], device=size.device)
        xx = torch.tensor([c[1] for c in cells], device=size.device)
        pred_size = size[i, :, yy, xx]
        pred_offset = offset[i, :, yy, xx]
        losses["size"] = 0.1 * nnf.l1_loss(pred_size, sizes.to(size.device) / stride, reduction="mean")
        losses["offset"] = nnf.l1_loss(pred_offset, offsets.to(size.device), reduction="mean")
    else:  # no object in the batch: keep the terms (and the graph) for DDP
        losses["size"] = size.sum() * 0.0
        losses["offset"] = offset.sum() * 0.0
    return losses
