"""The label formats ``engine-convert-dataset`` reads: Pascal VOC XML and YOLO txt.

Each reader gives one entry per image, ``{'file_name', 'width', 'height', 'objects':
[(class name, [x1, y1, x2, y2], difficult), ...]}``, boxes in the engine's continuous
pixel coordinates (pixel ``j`` covers ``[j, j + 1)``), and the class names in label
order. A bad file is one EngineError naming it (and the line, or the object).
"""
import math
import os
import xml.etree.ElementTree as ET
from typing import List, Optional, Sequence, Tuple

from ..data.datasets.reading import is_image_file, read_image
from ..utils.errors import EngineError

__all__ = ["read_voc", "read_yolo", "image_files"]


def _text(node, tag: str, where: str, required: bool = True) -> Optional[str]:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise EngineError(f"{where}: <{tag}> is missing")
        return None
    return child.text.strip()


def _float(text: str, tag: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise EngineError(f"{where}: <{tag}> must be a number, got {text!r}")
    return value


def image_files(img_dir: str) -> List[str]:
    """Image files under ``img_dir`` (recursively), as sorted relative paths."""
    if not os.path.isdir(img_dir):
        raise EngineError(f"the image folder {img_dir} does not exist")
    found = [os.path.relpath(os.path.join(folder, f), img_dir)
             for folder, _, files in os.walk(img_dir, followlinks=True) for f in files if is_image_file(f)]
    return sorted(found)


def _image_size(img_dir: Optional[str], file_name: str, where: str) -> Tuple[int, int]:
    if img_dir is None:
        raise EngineError(f"{where}: the image size is not in the file; give --img-dir to read it from the image")
    img = read_image(os.path.join(img_dir, file_name), where)
    return img.shape[1], img.shape[0]


def _voc_file(path: str, img_dir: Optional[str]) -> dict:
    """One VOC XML. VOC's corners are 1-based pixel indices, both included, so the box
    is ``[xmin - 1, ymin - 1, xmax, ymax]`` (as detectron2 reads VOC)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise EngineError(f"{path}: not well-formed XML ({e})") from None
    except OSError as e:
        raise EngineError(f"{path}: cannot read it ({e.strerror or e})") from None
    file_name = _text(root, "filename", path, required=False)
    if file_name is None:
        raise EngineError(f"{path}: <filename> is missing (the image this file describes)")
    size = root.find("size")
    width = height = 0
    if size is not None:
        width = int(_float(_text(size, "width", path, False) or "0", "width", path))
        height = int(_float(_text(size, "height", path, False) or "0", "height", path))
    if width <= 0 or height <= 0:  # some VOC files say 0: the image knows
        width, height = _image_size(img_dir, file_name, path)
    objects = []
    for number, obj in enumerate(root.findall("object"), 1):
        where = f"{path}: object {number}"
        name = _text(obj, "name", where)
        where = f"{where} ({name!r})"
        box = obj.find("bndbox")
        if box is None:
            raise EngineError(f"{where}: <bndbox> is missing")
        xmin, ymin, xmax, ymax = (_float(_text(box, tag, where), tag, where)
                                  for tag in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise EngineError(f"{where}: <bndbox> has xmax < xmin or ymax < ymin ({xmin}, {ymin}, {xmax}, {ymax})")
        difficult = _text(obj, "difficult", where, required=False) or "0"
        objects.append((name, [xmin - 1, ymin - 1, xmax, ymax], difficult.strip() not in ("0", "false")))
    return {"file_name": file_name, "width": width, "height": height, "objects": objects}


def read_voc(ann_dir: str, img_dir: Optional[str], classes: Optional[Sequence[str]],
             ids_file: Optional[str] = None):
    """The XML files of ``ann_dir`` (all, or the ids listed one per line in
    ``ids_file``, VOC's ImageSets/Main/<split>.txt) and the classes: ``classes`` when
    given (a name not in it is an error), else every name found, sorted."""
    if not os.path.isdir(ann_dir):
        raise EngineError(f"the annotation folder {ann_dir} does not exist")
    if ids_file:
        try:
            with open(ids_file, encoding="utf-8") as f:
                ids = [line.split()[0] for line in f if line.strip()]
        except OSError as e:
            raise EngineError(f"cannot read --ids-file {ids_file}: {e.strerror or e}") from None
        paths = [os.path.join(ann_dir, f"{i}.xml") for i in ids]
        for number, path in enumerate(paths, 1):
            if not os.path.isfile(path):
                raise EngineError(f"{ids_file} line {number}: {path} does not exist")
    else:
        paths = sorted(os.path.join(ann_dir, f) for f in os.listdir(ann_dir) if f.lower().endswith(".xml"))
    if not paths:
        raise EngineError(f"no .xml file in {ann_dir}")
    entries = [_voc_file(path, img_dir) for path in paths]
    for path, entry in zip(paths, entries):
        if img_dir is not None and not os.path.isfile(os.path.join(img_dir, entry["file_name"])):
            raise EngineError(f"{path}: its image {entry['file_name']!r} is not in {img_dir}")
    found = sorted({name for e in entries for name, _, _ in e["objects"]})
    if classes is None:
        if not found:
            raise EngineError(f"no object in the XML files of {ann_dir}, and no --classes to name the classes")
        return entries, found
    for path, entry in zip(paths, entries):
        for name, _, _ in entry["objects"]:
            if name not in classes:
                raise EngineError(f"{path}: class {name!r} is not one of --classes {list(classes)}")
    return entries, list(classes)


def _yolo_file(path: str, width: int, height: int, classes: Sequence[str]) -> list:
    """``class cx cy w h`` per line, the box's centre and size as fractions of the
    image; a class index outside the class list, or a value outside [0, 1], is an error."""
    objects = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path} line {number}"
            try:
                values = [float(v) for v in fields]
            except ValueError:
                values = []
            if len(values) != 5 or not all(math.isfinite(v) for v in values):
                raise EngineError(f"{where}: expected 'class x_center y_center width height', got {line.strip()!r}")
            label, cx, cy, w, h = values
            if label != int(label) or not 0 <= label < len(classes):
                raise EngineError(f"{where}: class {fields[0]} is not an index of the {len(classes)} classes")
            if not all(0 <= v <= 1 for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
                raise EngineError(f"{where}: centre and size must be fractions of the image in [0, 1] "
                                  f"(size > 0), got {' '.join(fields[1:])}")
            x1, y1 = max(0.0, (cx - w / 2) * width), max(0.0, (cy - h / 2) * height)
            x2, y2 = min(float(width), (cx + w / 2) * width), min(float(height), (cy + h / 2) * height)
            objects.append((classes[int(label)], [x1, y1, x2, y2], False))
    return objects


def read_yolo(label_dir: str, img_dir: str, classes: Sequence[str]):
    """Every image of ``img_dir`` with its ``label_dir/<same relative path>.txt``; an
    image without one has no object (YOLO's background images)."""
    if not os.path.isdir(label_dir):
        raise EngineError(f"the label folder {label_dir} does not exist")
    names = image_files(img_dir)
    if not names:
        raise EngineError(f"no image in {img_dir}")
    entries = []
    for name in names:
        width, height = _image_size(img_dir, name, f"image {name}")
        label_file = os.path.join(label_dir, os.path.splitext(name)[0] + ".txt")
        objects = _yolo_file(label_file, width, height, classes) if os.path.isfile(label_file) else []
        entries.append({"file_name": name, "width": width, "height": height, "objects": objects})
    return entries, list(classes)
