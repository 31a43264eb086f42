"""Packaging for the `engine` library (wheel name engine_frame, import name engine)."""
import os
import re

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "engine", "__init__.py"), encoding="utf-8") as f:
    version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

setup(
    name="engine_frame",
    version=version,
    description="A plain-PyTorch training engine: config -> scheduler -> trainer -> model bundle",
    long_description=open(os.path.join(here, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(here, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["engine", "engine.*"]),
    install_requires=[
        "torch>=2.1",
        "fvcore>=0.1.5",
        "yacs>=0.1.8",
        "numpy",
        "opencv-python-headless",
        "PyYAML",
        "tensorboard",
        "tqdm",
        "tabulate",
        "safetensors",  # .safetensors weights (trainer.weights, checkpoint tools)
        "torchvision",  # VggLoss, the torchvision ops the examples use
        "onnx",  # engine-export
        "onnxruntime",  # engine-export --verify
        "pycocotools",  # DetectionEvaluator (COCO mAP)
        "stringzilla",  # SIMD uint8 table lookups (engine/transforms/functional_lut.py)
    ],
    extras_require={
        "export": ["onnxscript"],  # only for onnx: options.dynamo True
        "test": ["pytest", "scikit-learn"],
        "timm": ["timm"],  # networks named timm.<name> (doc/model.md)
    },
    entry_points={
        "console_scripts": [
            # checkpoint tools (doc/tools.md); also `python -m engine.tools.<module>`
            "engine-ckpt-show=engine.tools.ckpt_show:main",
            "engine-ckpt-rename=engine.tools.ckpt_rename:main",
            "engine-ckpt-strip=engine.tools.ckpt_strip:main",
            "engine-ckpt-deploy=engine.tools.ckpt_deploy:main",
            # train from a config alone: train.py without a project of one's own (doc/tools.md)
            "engine-train=engine.tools.train:main",
            # evaluate, export and look at data (doc/tools.md, doc/export.md)
            "engine-test=engine.tools.test:main",
            "engine-export=engine.tools.export:main",
            "engine-browse-dataset=engine.tools.browse_dataset:main",
            # VOC XML / YOLO txt labels -> COCO json for CocoDataset (doc/tools.md)
            "engine-convert-dataset=engine.tools.convert_dataset:main",
        ],
    },
)
