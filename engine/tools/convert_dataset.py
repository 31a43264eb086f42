"""engine-convert-dataset: Pascal VOC XML or YOLO txt labels to one COCO json (for CocoDataset).

    engine-convert-dataset voc VOC2012/Annotations --img-dir VOC2012/JPEGImages --out train.json \\
        --ids-file VOC2012/ImageSets/Main/train.txt
    engine-convert-dataset yolo labels/train --img-dir images/train --classes-file classes.txt --out train.json
    python -m engine.tools.convert_dataset voc Annotations --out all.json --classes cat,dog

The json's file_name entries are relative to --img-dir: give that folder to CocoDataset as
img_dir. Categories get ids 1..K in class order (--classes, --classes-file, a YOLO
label folder's classes.txt; for VOC, by default, every name found, sorted), so
CocoDataset's labels 0..K-1 follow that order. VOC objects marked <difficult> become
iscrowd=1 (as MMDetection's converter writes them: left out of training and of scoring).
Boxes keep their pixels: VOC's 1-based corners [xmin, xmax] become x = xmin - 1,
width = xmax - xmin + 1; YOLO's fractions are scaled by the image's size (read from the
image). A bad input file is one error line naming it (and the line or object); exit 2.
"""
import json
import os
from typing import List, Optional, Sequence

from ..utils.atomic import atomic_write_text, check_writable_file
from ..utils.errors import EngineError
from .cli import parser, run_tool
from .label_formats import read_voc, read_yolo

__all__ = ["to_coco", "convert", "main"]


def to_coco(entries: list, classes: Sequence[str], source: str) -> dict:
    """The COCO dict of the readers' entries (label_formats.py): images with ids 1..N in
    entry order, one annotation per object, categories 1..K in class order."""
    category = {name: i + 1 for i, name in enumerate(classes)}
    images, annotations = [], []
    for image_id, entry in enumerate(entries, 1):
        images.append({"id": image_id, "file_name": entry["file_name"].replace(os.sep, "/"),
                       "width": int(entry["width"]), "height": int(entry["height"])})
        for name, (x1, y1, x2, y2), difficult in entry["objects"]:
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category[name],
                                "bbox": [round(v, 3) for v in (x1, y1, w, h)], "area": round(w * h, 3),
                                "iscrowd": int(bool(difficult))})
    return {"info": {"description": f"converted by engine-convert-dataset from {source}"},
            "images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": name, "supercategory": "none"} for i, name in enumerate(classes)]}


def _classes(names: Optional[str], names_file: Optional[str]) -> Optional[List[str]]:
    if names and names_file:
        raise EngineError("give --classes or --classes-file, not both")
    if names_file:
        try:
            with open(names_file, encoding="utf-8") as f:
                found = [line.strip() for line in f if line.strip()]
        except OSError as e:
            raise EngineError(f"cannot read --classes-file {names_file}: {e.strerror or e}") from None
    elif names:
        found = [n.strip() for n in names.split(",") if n.strip()]
    else:
        return None
    if not found:
        raise EngineError("the class list is empty")
    duplicated = sorted({n for n in found if found.count(n) > 1})
    if duplicated:
        raise EngineError(f"the class list names {duplicated} more than once")
    return found


def convert(fmt: str, labels: str, out: str, img_dir: Optional[str] = None, classes: Optional[str] = None,
            classes_file: Optional[str] = None, ids_file: Optional[str] = None) -> dict:
    """Read ``labels`` in format ``fmt`` ('voc' or 'yolo') and write the COCO json ``out``."""
    names = _classes(classes, classes_file)
    if fmt == "voc":
        entries, names = read_voc(labels, img_dir, names, ids_file)
    else:
        if ids_file:
            raise EngineError("--ids-file is for VOC; a YOLO set is every image of --img-dir")
        if img_dir is None:
            raise EngineError("yolo needs --img-dir: the boxes are fractions of the image's size")
        if names is None:
            default = os.path.join(labels, "classes.txt")
            if not os.path.isfile(default):
                raise EngineError(f"yolo needs the class names: --classes, --classes-file, or {default}")
            names = _classes(None, default)
        entries, names = read_yolo(labels, img_dir, names)
    coco = to_coco(entries, names, f"{fmt} {labels}")
    atomic_write_text(out, json.dumps(coco, indent=1) + "\n")
    return coco


def build_parser():
    p = parser("engine-convert-dataset", __doc__)
    p.add_argument("format", choices=["voc", "yolo"], help="the label format")
    p.add_argument("labels", help="the folder of the label files (VOC: Annotations; YOLO: labels)")
    p.add_argument("--out", required=True, help="the COCO json to write")
    p.add_argument("--img-dir", default=None,
                   help="the images (YOLO: required; VOC: checks each file and reads sizes the XML lacks)")
    p.add_argument("--classes", default=None, help="class names in label order, comma-separated")
    p.add_argument("--classes-file", default=None, help="class names in label order, one per line")
    p.add_argument("--ids-file", default=None, help="VOC: convert only these ids (ImageSets/Main/<split>.txt)")
    return p


def run(args) -> None:
    check_writable_file(args.out, "--out file", "--out")
    coco = convert(args.format, args.labels, args.out, args.img_dir, args.classes, args.classes_file,
                   args.ids_file)
    names = [c["name"] for c in coco["categories"]]
    print(f"wrote {args.out}: {len(coco['images'])} images, {len(coco['annotations'])} boxes, "
          f"{len(names)} classes ({', '.join(names)})")


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
