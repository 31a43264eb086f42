"""Batches of detection samples, whose object counts differ from image to image."""
from typing import Dict, List

import torch
from torch.nn import functional as nnf

__all__ = ["detection_collate"]


def detection_collate(samples: List[Dict]) -> Dict:
    """``input_data`` stacked into N x C x H x W; every other field a list with one entry
    per image (what ``DetectionEvaluator`` reads and the digits detection example
    collates). Images of different sizes are padded with 0 at the bottom and right to
    the largest, so box coordinates stay valid; give the pipeline a fixed size (Resize,
    Pad) when the model wants one."""
    images = [s["input_data"] for s in samples]
    height = max(int(img.shape[-2]) for img in images)
    width = max(int(img.shape[-1]) for img in images)
    images = [img if img.shape[-2:] == (height, width) else
              nnf.pad(img, (0, width - img.shape[-1], 0, height - img.shape[-2])) for img in images]
    batch = {"input_data": torch.stack(images)}
    for key in samples[0]:
        if key != "input_data":
            batch[key] = [s[key] for s in samples]
    return batch
