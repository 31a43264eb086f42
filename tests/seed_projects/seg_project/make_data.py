"""Writes digit scenes as PNG image/mask pairs and the seed's `img,mask` list files."""
import os
import sys

import cv2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from codes.digits_scenes.scenes import make_scene  # noqa: E402


def write(root, split, count):
    lines = []
    for i in range(count):
        scene = make_scene(i, split, size=48, max_scale=24)
        img = os.path.join("images", f"{split}_{i:04d}.png")
        mask = os.path.join("masks", f"{split}_{i:04d}.png")
        cv2.imwrite(os.path.join(root, img), cv2.cvtColor(scene["img"], cv2.COLOR_RGB2BGR))
        cv2.imwrite(os.path.join(root, mask), (scene["mask"] > 0).astype("uint8"))
        lines.append(f"{img},{mask}")
    with open(os.path.join(root, f"{split}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    root = sys.argv[1]
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    write(root, "train", int(sys.argv[2]) if len(sys.argv) > 2 else 256)
    write(root, "val", int(sys.argv[3]) if len(sys.argv) > 3 else 64)
