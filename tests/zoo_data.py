"""Small real data on disk in the common formats, from scikit-learn's digits: a folder of
PNGs per class, image/mask pairs with list files, and a COCO json of digits on a canvas.
The zero-code tests train on them from a config alone."""
import json
import os

import cv2
import numpy as np

from codes.digits.dataset import load_digits_split


def _digit(img8: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img8, (size, size), interpolation=cv2.INTER_LINEAR)


def digits_folder(root, size: int = 16, per_class=(60, 12)) -> dict:
    """``root/train/<digit>/<i>.png`` and ``root/val/<digit>/<i>.png`` (grey PNGs,
    ``size`` x ``size``); the first ``per_class`` images of each digit per split.
    Returns ``{'train': folder, 'val': folder, 'val_labels': labels in dataset order}``."""
    out = {}
    for split, count in zip(("train", "val"), per_class):
        images, labels = load_digits_split(split)
        folder = os.path.join(str(root), split)
        order = []
        for digit in range(10):
            os.makedirs(os.path.join(folder, str(digit)), exist_ok=True)
            chosen = np.flatnonzero(labels == digit)[:count]
            for i in chosen:
                cv2.imwrite(os.path.join(folder, str(digit), f"{i:04d}.png"), _digit(images[i], size))
            order += [digit] * len(chosen)
        out[split] = folder
        out[f"{split}_labels"] = order  # ImageFolderDataset's order: sorted folders, sorted files
    return out


def _canvas(rng, images, labels, size: int, digit_size: int, count: int):
    """A grey canvas with ``count`` digits pasted apart; their boxes and labels."""
    canvas = np.zeros((size, size), np.uint8)
    boxes, classes, mask = [], [], np.zeros((size, size), np.uint8)
    cells = rng.permutation((size // digit_size) ** 2)[:count]
    for cell in cells:
        k = int(rng.integers(len(labels)))
        y, x = divmod(int(cell), size // digit_size)
        y, x = y * digit_size, x * digit_size
        patch = _digit(images[k], digit_size)
        canvas[y:y + digit_size, x:x + digit_size] = patch
        mask[y:y + digit_size, x:x + digit_size][patch > 64] = 1
        ys, xs = np.nonzero(patch > 64)
        boxes.append([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1])
        classes.append(int(labels[k] >= 5))  # two classes: digits 0-4, digits 5-9
    return canvas, mask, boxes, classes


def digits_masks(root, count=(24, 8), size: int = 32) -> dict:
    """``root/{images,masks}/<split>_<i>.png`` (a digit pasted on a black canvas; mask 1
    on its strokes) and the seed's lists ``root/{train,val}.txt`` (``img,mask`` lines)."""
    rng = np.random.default_rng(0)
    images, labels = load_digits_split("all")
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(str(root), sub), exist_ok=True)
    for split, n in zip(("train", "val"), count):
        lines = []
        for i in range(n):
            canvas, mask, _, _ = _canvas(rng, images, labels, size, size // 2, 1)
            name = f"{split}_{i:03d}.png"
            cv2.imwrite(os.path.join(str(root), "images", name), canvas)
            cv2.imwrite(os.path.join(str(root), "masks", name), mask)
            lines.append(f"images/{name},masks/{name}")
        with open(os.path.join(str(root), f"{split}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return {"root": str(root), "train": "train.txt", "val": "val.txt"}


def digits_coco(root, count: int = 8, size: int = 48) -> dict:
    """``root/images/<i>.png`` (1-2 digits on a canvas) and ``root/ann.json`` (COCO
    boxes, two categories: 'low' digits 0-4, 'high' 5-9)."""
    rng = np.random.default_rng(1)
    images, labels = load_digits_split("all")
    os.makedirs(os.path.join(str(root), "images"), exist_ok=True)
    data = {"images": [], "annotations": [],
            "categories": [{"id": 1, "name": "low"}, {"id": 2, "name": "high"}]}
    for i in range(count):
        canvas, _, boxes, classes = _canvas(rng, images, labels, size, 16, 1 + i % 2)
        name = f"{i:03d}.png"
        cv2.imwrite(os.path.join(str(root), "images", name), canvas)
        data["images"].append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for (x1, y1, x2, y2), c in zip(boxes, classes):
            w, h = float(x2 - x1), float(y2 - y1)
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": i + 1,
                                        "category_id": c + 1, "bbox": [float(x1), float(y1), w, h],
                                        "area": w * h, "iscrowd": 0})
    ann = os.path.join(str(root), "ann.json")
    with open(ann, "w") as f:
        json.dump(data, f)
    return {"img_dir": os.path.join(str(root), "images"), "ann_file": ann}
