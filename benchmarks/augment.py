"""Time each augmentation op of ``engine.transforms`` beside albumentations' equivalent,
through the seed's path: ``TransformCompose`` built from a config and called as
``results = t(results)``, as a seed-style dataset does in ``__getitem__``.

Both run on the same 480x640 RGB uint8 images (smooth synthetic scenes: gradients,
shapes, a little noise, so JPEG and CLAHE see image-like content), in one process on one
thread (``cv2.setNumThreads(0)``; torch intra-op threads 1), with and without a uint8
label mask. The engine's results dict is the one a seed dataset builds per sample:
``dict(img=..., img_fields=['img'], color_fields=['img'])``, and with a mask
``gt_semantic_seg`` listed in ``img_fields`` (a mask by the field rules, as in the
seed's segmentation projects); its generator is NumPy's global one, seeded once at
the start as albumentations' is (``A.Compose(..., seed=0)``, called with ``image=`` and
``mask=``), so every timing draws fresh parameters on both sides. Both do the same work
(p=1, the same ranges).

Rounds are interleaved: in each round every op is timed for the engine, albumentations
and the bare OpenCV call(s) it comes down to (``FLOORS``: no parameter drawing, no
results dict, no checks), the order reversed every other round, so a slow spell of a
shared machine hits all three. A timing calls the pipeline on every image ``--reps``
times (images/s); the ratio is engine / albumentations per round, reported as the
median over rounds with a bootstrap 95 % interval (and the worst round); the geometric
mean of the rows' medians closes the table (over the issue-23 table's ops, and over
every row).

Run from the repository root (albumentations: ``pip install -r benchmarks/requirements.txt``)::

    python benchmarks/augment.py                    # the table in doc/benchmarks.md
    python benchmarks/augment.py --rounds 3 --json /tmp/augment.json
    python benchmarks/augment.py --ops HorizontalFlip ToGray   # some rows only
    python benchmarks/augment.py --engine-only      # without albumentations
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_stats import bootstrap_median  # noqa: E402  (benchmarks/, the script's folder)
from engine.transforms import TransformCompose, functional as F  # noqa: E402

H, W = 480, 640
IMG_SIZE = 256

# The pipeline of the seed's data_aug.md ("定义配置文件"), with img_size = 256.
SEED_PIPELINE = [
    dict(name="RandomAffine", max_rotate_degree=30, border_ratio=1.2, p=1.0),
    dict(name="RandomFlip", direction=["horizontal", "vertical", "diagonal"], p=0.1),
    dict(name="RandomCrop", p=1.0, max_crop_ratio=0.25, min_crop_ratio=0.05, crop_step=0.05),
    dict(name="Resize", target_size=IMG_SIZE, interpolation="INTER_LINEAR", keep_ratio=False,
         clip_border=True),
    dict(name="RandomResize", max_edge_length=[256], padding_size=IMG_SIZE,
         interpolation="INTER_LINEAR", keep_ratio=False, clip_border=True),
]


def ops(A):
    """``(name, engine config, albumentations transforms factory)``; factories run lazily."""
    return [
        ("HorizontalFlip", [dict(name="RandomFlip", direction="horizontal", p=1.0)],
         lambda: [A.HorizontalFlip(p=1)]),
        ("Resize 240x320", [dict(name="Resize", target_size=[240, 320])],
         lambda: [A.Resize(240, 320, interpolation=cv2.INTER_LINEAR)]),
        ("RandomCrop 384x512", [dict(name="RandomCrop", size=[384, 512])],
         lambda: [A.RandomCrop(384, 512)]),
        ("Normalize", [dict(name="Normalize")], lambda: [A.Normalize()]),
        ("RandomBrightnessContrast", [dict(name="RandomBrightnessContrast", p=1.0)],
         lambda: [A.RandomBrightnessContrast(p=1)]),
        # Sigma drawn on both sides: at sigma_limit=0 (OpenCV's "from the size", 0.8-1.4
        # for sizes 3-7) albumentations 2.0.8 blurs with a NaN kernel, an all-zero image.
        ("GaussianBlur 3-7", [dict(name="RandomGaussianBlur", blur_limit=[3, 7],
                                   sigma_limit=[0.8, 1.4], p=1.0)],
         lambda: [A.GaussianBlur(blur_limit=(3, 7), sigma_limit=(0.8, 1.4), p=1)]),
        ("CLAHE", [dict(name="RandomCLAHE", clip_limit=4.0, p=1.0)],
         lambda: [A.CLAHE(clip_limit=4.0, tile_grid_size=(8, 8), p=1)]),
        # One quality on both sides: a JPEG round trip at quality 100 costs 3x one at 80
        # (7.0 against 2.2 ms here), and each library draws its own sequence of
        # qualities, so with a range a round's ratio measured the draws, not the code
        # (doc/benchmarks.md, "the JPEG row").
        ("ImageCompression jpg 90",
         [dict(name="RandomCompress", quality_lower=90, quality_upper=90, p=1.0)],
         lambda: [A.ImageCompression(quality_range=(90, 90), compression_type="jpeg", p=1)]),
        ("ToGray", [dict(name="ToGray")], lambda: [A.ToGray(p=1)]),
        ("RandomGamma 0.8-1.2", [dict(name="RandomGamma", gamma_limit=[0.8, 1.2], p=1.0)],
         lambda: [A.RandomGamma(gamma_limit=(80, 120), p=1)]),
        ("RandomToneCurve 0.1", [dict(name="RandomToneCurve", scale=0.1, p=1.0)],
         lambda: [A.RandomToneCurve(scale=0.1, p=1)]),
        ("Affine", [dict(name="RandomAffine", rotate_degree_range=[-30, 30],
                         max_translate_ratio=0.1, scaling_ratio_range=[0.8, 1.2],
                         max_shear_degree=5, border_ratio=1.0, p=1.0)],
         lambda: [A.Affine(rotate=(-30, 30), translate_percent=(-0.1, 0.1), scale=(0.8, 1.2),
                         shear=(-5, 5), fill=114, p=1)]),
        ("seed data_aug.md pipeline", SEED_PIPELINE,
         lambda: [A.Affine(rotate=(-30, 30), fill=114, p=1),
                A.OneOf([A.HorizontalFlip(p=1), A.VerticalFlip(p=1),
                         A.Compose([A.HorizontalFlip(p=1), A.VerticalFlip(p=1)])], p=0.1),
                A.RandomSizedCrop(min_max_height=(360, 456), size=(456, 608), w2h_ratio=4 / 3,
                                  p=1),
                A.Resize(IMG_SIZE, IMG_SIZE),
                A.LongestMaxSize(256), A.PadIfNeeded(IMG_SIZE, IMG_SIZE)]),
    ]


def _pair(image_op, mask_op=None):
    """A bare call on the image, and on the mask when there is one (and it is moved)."""
    def run(img, mask):
        image_op(img)
        if mask is not None and mask_op is not None:
            mask_op(mask)
    return run


_LUT8 = np.arange(256, dtype=np.uint8)
_NORM_ROWS = tuple(torch.from_numpy(np.tile(np.float32(v), W))  # the statistics across a row
                   for v in ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375]))
_CLAHE = cv2.createCLAHE(4.0, (8, 8))
_M = cv2.getRotationMatrix2D((W / 2, H / 2), 20, 1.1)


def _clahe(img):
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    cv2.insertChannel(_CLAHE.apply(cv2.extractChannel(lab, 0)), lab, 0)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


#: The least OpenCV work of each op (no parameter drawing, dict or checks): what a library
#: calling the same primitive cannot beat. ``None``: no single such primitive.
FLOORS = {
    "HorizontalFlip": _pair(lambda i: cv2.flip(i, 1), lambda m: cv2.flip(m, 1)),
    "Resize 240x320": _pair(lambda i: cv2.resize(i, (320, 240)),
                            lambda m: cv2.resize(m, (320, 240), interpolation=cv2.INTER_NEAREST)),
    "RandomCrop 384x512": _pair(lambda i: i[50:434, 60:572], lambda m: m[50:434, 60:572]),
    "Normalize": _pair(lambda i: torch.from_numpy(i.reshape(H, -1)).to(torch.float32)  # rows,
                       .sub_(_NORM_ROWS[0]).div_(_NORM_ROWS[1])),  # not cv2.LUT (2.4x slower)
    "RandomBrightnessContrast": _pair(lambda i: F.apply_lut(i, _LUT8)),  # a table, as gamma
    "GaussianBlur 3-7": _pair(lambda i: cv2.GaussianBlur(i, (5, 5), 1.1)),
    "CLAHE": _pair(_clahe),
    "ImageCompression jpg 90": _pair(lambda i: cv2.imdecode(cv2.imencode(
        ".jpg", i, (cv2.IMWRITE_JPEG_QUALITY, 90))[1], cv2.IMREAD_UNCHANGED)),
    "ToGray": _pair(lambda i: cv2.cvtColor(cv2.cvtColor(i, cv2.COLOR_RGB2GRAY),
                                           cv2.COLOR_GRAY2RGB)),
    "RandomGamma 0.8-1.2": _pair(lambda i: F.apply_lut(i, _LUT8)),  # StringZilla, not
    "RandomToneCurve 0.1": _pair(lambda i: F.apply_lut(i, _LUT8)),  # cv2.LUT (2.5x slower)
    "Affine": _pair(lambda i: cv2.warpAffine(i, _M, (W, H), borderValue=(114, 114, 114)),
                    lambda m: cv2.warpAffine(m, _M, (W, H), flags=cv2.INTER_NEAREST)),
    "seed data_aug.md pipeline": None,
}


def scenes(count: int, seed: int = 0):
    """Smooth RGB scenes with shapes and mild noise, and label masks of the shapes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for _ in range(count):
        base = np.stack([xx / W, yy / H, (xx + yy) / (W + H)], -1) * rng.uniform(80, 200, 3)
        img = base.astype(np.uint8)
        mask = np.zeros((H, W), np.uint8)
        for label in range(1, 6):
            x, y = int(rng.integers(0, W - 120)), int(rng.integers(0, H - 120))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.rectangle(img, (x, y), (x + int(rng.integers(30, 120)), y + 90), colour, -1)
            cv2.rectangle(mask, (x, y), (x + 60, y + 90), label, -1)
        noise = rng.normal(0, 6, img.shape).astype(np.float32)
        out.append((cv2.add(img, noise, dtype=cv2.CV_8U), mask))
    return out


#: The ops of the issue-23 table (what its geometric mean is over); the point ops after
#: ToGray came with the move to the seed's path. CLOCK: time.thread_time with --clock cpu.
ISSUE_TABLE = ("HorizontalFlip", "Resize 240x320", "RandomCrop 384x512", "Normalize",
               "RandomBrightnessContrast", "GaussianBlur 3-7", "CLAHE",
               "ImageCompression jpg 90", "ToGray", "Affine", "seed data_aug.md pipeline")
CLOCK = time.perf_counter


def time_engine(pipeline, images, reps, with_mask):
    """The seed's call: a fresh results dict per sample, no generator argument."""
    start = CLOCK()
    for _ in range(reps):
        for img, mask in images:
            if with_mask:
                pipeline(dict(img=img, gt_semantic_seg=mask, img_fields=["img", "gt_semantic_seg"],
                              color_fields=["img"]))
            else:
                pipeline(dict(img=img, img_fields=["img"], color_fields=["img"]))
    return reps * len(images) / (CLOCK() - start)


def time_albu(pipeline, images, reps, with_mask):
    start = CLOCK()
    for _ in range(reps):
        for img, mask in images:
            pipeline(image=img, mask=mask) if with_mask else pipeline(image=img)
    return reps * len(images) / (CLOCK() - start)


def time_floor(floor, images, reps, with_mask):
    start = CLOCK()
    for _ in range(reps):
        for img, mask in images:
            floor(img, mask if with_mask else None)
    return reps * len(images) / (CLOCK() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ops", nargs="+", help="only the rows whose name starts with these")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: this "
                        "thread's CPU time, which other jobs on a shared machine do not inflate")
    parser.add_argument("--engine-only", action="store_true",
                        help="time the engine's ops alone (no albumentations needed)")
    parser.add_argument("--json", help="write every timing here")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = {"cpu": time.thread_time, "wall": time.perf_counter}[args.clock]
    cv2.setNumThreads(0)
    cv2.ocl.setUseOpenCL(False)
    torch.set_num_threads(1)
    A = None
    if not args.engine_only:
        try:
            import albumentations as A  # noqa: N812  (benchmark-only dependency)
        except ImportError:
            sys.exit("augment.py: albumentations is not installed; pip install -r "
                     "benchmarks/requirements.txt, or pass --engine-only")
    images = scenes(args.images)
    np.random.seed(0)  # once, as albumentations': per timing, every round would time the
    table = []  # same parameters (one JPEG quality sample, one mix of brightness signs)
    for name, cfg, albu in ops(A):
        if args.ops and not any(name.startswith(o) for o in args.ops):
            continue
        engine = TransformCompose(cfg)
        theirs = None
        if A is not None:
            try:
                theirs = A.Compose(albu(), seed=0)
            except Exception as e:  # an API difference must not hide the other rows
                print(f"{name}: albumentations equivalent not built: {e}", flush=True)
        for with_mask in (False, True):
            mine, other, bare = [], [], []
            floor = FLOORS[name]
            for r in range(args.rounds):
                order = (0, 1, 2) if r % 2 == 0 else (2, 1, 0)
                for who in order:
                    if who == 0:
                        mine.append(time_engine(engine, images, args.reps, with_mask))
                    elif who == 1 and theirs is not None:
                        other.append(time_albu(theirs, images, args.reps, with_mask))
                    elif who == 2 and floor is not None:
                        bare.append(time_floor(floor, images, args.reps, with_mask))
            row = dict(op=name, mask=with_mask, engine=statistics.median(mine))
            if bare:
                row.update(bare_opencv=statistics.median(bare),
                           of_bare=statistics.median([m / b for m, b in zip(mine, bare)]))
            if other:
                ratios = [m / o for m, o in zip(mine, other)]
                row.update(albumentations=statistics.median(other),
                           ratio=statistics.median(ratios), worst=min(ratios),
                           ratio_95=list(bootstrap_median(ratios)))
            table.append(row)
            print(_line(row), flush=True)
    means = geometric_means(table)
    for label, value in means.items():
        print(f"geometric mean of the ratios, {label}: {value:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), rows=table, means=means),
                                              indent=1))
    return table


def geometric_means(table):
    """The geometric mean of the rows' median ratios: over the issue-23 table's ops
    (both mask settings), and over every row timed."""
    def gmean(rows):
        return math.exp(statistics.fmean(math.log(r["ratio"]) for r in rows))

    rows = [r for r in table if "ratio" in r]
    issue = [r for r in rows if r["op"] in ISSUE_TABLE]
    means = {f"issue-23 table ({len(issue)} rows)": gmean(issue)} if issue else {}
    if rows and len(rows) != len(issue):
        means[f"every row ({len(rows)} rows)"] = gmean(rows)
    return means


def _line(row):
    mask = "yes" if row["mask"] else "no"
    text = f"{row['op']:<30} mask={mask:<3} engine {row['engine']:8.1f}/s"
    if "of_bare" in row:
        text += f"  bare OpenCV {row['bare_opencv']:8.1f}/s ({row['of_bare']:.2f}x of it)"
    if "ratio" in row:
        low, high = row["ratio_95"]
        text += (f"  albumentations {row['albumentations']:8.1f}/s  ratio {row['ratio']:.2f}x"
                 f" (95 % {low:.2f}-{high:.2f}, worst round {row['worst']:.2f}x)")
    return text


if __name__ == "__main__":
    main()
