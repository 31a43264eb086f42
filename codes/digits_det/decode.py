"""From heat maps to boxes: local peaks, top-k, then class-wise NMS (torchvision.ops)."""
from typing import Dict, List

import torch
from torch.nn import functional as nnf
from torchvision.ops import batched_nms

__all__ = ["decode_detections"]


def decode_detections(outputs, stride: int, topk: int = 20, score_threshold: float = 0.05,
                      nms_iou: float = 0.5) -> List[Dict[str, torch.Tensor]]:
    """Per image ``dict(boxes N x 4 x1 y1 x2 y2 pixels, scores N, labels N)``."""
    heat_logits, size, offset = outputs
    heat = heat_logits.sigmoid()
    peaks = heat * heat.eq(nnf.max_pool2d(heat, 3, stride=1, padding=1)).float()
    n, c, h, w = peaks.shape
    scores, flat = peaks.view(n, -1).topk(min(topk, c * h * w), dim=1)
    results = []
    for i in range(n):
        keep = scores[i] > score_threshold
        s, f = scores[i][keep], flat[i][keep]
        cls, cell = f // (h * w), f % (h * w)
        yy, xx = cell // w, cell % w
        cx = (xx.float() + offset[i, 0, yy, xx]) * stride
        cy = (yy.float() + offset[i, 1, yy, xx]) * stride
        bw, bh = size[i, 0, yy, xx].clamp(min=0) * stride, size[i, 1, yy, xx].clamp(min=0) * stride
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
        kept = batched_nms(boxes, s, cls, nms_iou)
        results.append({"boxes": boxes[kept], "scores": s[kept], "labels": cls[kept]})
    return results
