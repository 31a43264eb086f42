"""engine-export: write a trained model as ONNX, and check it against torch in onnxruntime.

    engine-export --config-file codes/configs/digits.py --weights model_final.pth --output digits.onnx \\
        --input-shape 1 1 16 16 --verify
    engine-export --config-file cfg.py --weights ckpt.pth --output m.onnx --verify --input-img a.png
    python -m engine.tools.export --config-file cfg.py --weights ckpt.pth --output m.onnx

What is exported is the config's onnx: section (doc/export.md): the registered export
wrapper onnx.name around the model (default: the model's generator), its inputs
(onnx.input_shape, or --input-shape N C H W for a single input), names, dynamic axes and
torch.onnx.export options. Weights: the one rule (the EMA's when the checkpoint holds
them and EMA is on; --no-ema: the raw ones); the tool says which. The file passes
onnx.checker. --verify runs it in onnxruntime on random inputs at two batch sizes (the
shape's and 7, when the batch axis is dynamic) and on --input-img through the
validation pipeline, prints the max abs difference to torch per output and stops with
an error: line naming the output and its difference (exit 2) when one exceeds --tolerance.
Nothing reaches --output before every check passed: the inputs are tried in torch first
(a shape or an image the network cannot take is one error: line), the file is written
under a temporary name beside it and renamed only after onnx.checker and --verify.
"""
import sys

from .cli import import_project, parser, run_tool

__all__ = ["main", "build_parser"]


def build_parser():
    p = parser("engine-export", __doc__)
    p.add_argument("--config-file", required=True, help="the training config (.py or .yaml), or RUN/config.yaml")
    p.add_argument("--weights", required=True, help="a checkpoint or weights file")
    p.add_argument("--output", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    p.add_argument("--input-shape", type=int, nargs="+", default=None, metavar="N",
                   help="shape of the single input (e.g. 1 3 224 224), instead of onnx.input_shape")
    p.add_argument("--verify", action="store_true", help="compare onnxruntime with torch")
    p.add_argument("--input-img", default=None, metavar="IMG", help="also verify on this image")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest max abs difference (default 1e-4)")
    p.add_argument("--fuse-conv-bn", action="store_true", help="fold BatchNorm into the convolutions first")
    p.add_argument("--no-ema", action="store_true", help="the raw weights, not the EMA's")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="a module registering the project's components (repeatable)")
    p.add_argument("opts", nargs="*", metavar="KEY VALUE", help="config overrides")
    return p


def run(args) -> None:
    from ..export.onnx_export import export_checkpoint

    import_project(args.imports)
    export_checkpoint(args.config_file, args.weights, args.output, input_shape=args.input_shape,
                           verify=args.verify, input_img=args.input_img, tolerance=args.tolerance,
                           fuse_conv_bn=args.fuse_conv_bn, no_ema=args.no_ema, overrides=args.opts, echo=print)


def main(argv=None) -> int:
    return run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
