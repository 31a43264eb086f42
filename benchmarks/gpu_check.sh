#!/usr/bin/env bash
# The GPU checks of issue 23 as one prepared script, for a machine lent with a GPU and no
# network (the device machines: Python 3.12 with torch, torchvision, OpenCV, TensorBoard,
# ONNX... installed; doc/benchmarks.md, "ResNet-50 on one GPU").
#
#   benchmarks/gpu_check.sh fetch   # here, with the package index: the packages the GPU
#                                   # machine lacks, as wheels in .whl/ (git-ignored)
#   benchmarks/gpu_check.sh run     # there, from the repository root, .whl/ carried along:
#                                   # installs them to /tmp/site, then the CUDA tests and
#                                   # benchmarks/gpu_throughput.py; logs and JSON into $OUT
#
# Why wheels built here: fvcore and iopath publish source archives only, and the GPU
# machine cannot fetch anything. PYVER (default 3.12) is the GPU machine's Python; WHEELS
# (default .whl) the wheels' folder; TESTS_TIMEOUT and BENCH_TIMEOUT (240 and 330 s) bound
# the two parts of run, which must end inside one device call (600 s).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}

# what requirements.txt names that the GPU machine's image does not hold (its list:
# ../.library/device/KINDS.md), pure Python, and the compiled ones for its Python
PURE="fvcore iopath yacs termcolor"
COMPILED="stringzilla pycocotools"

pinned() {  # NAME==VERSION from constraints.txt
    local line
    line=$(grep -i "^$1==" constraints.txt) || { echo "error: $1 is not pinned in constraints.txt" >&2; exit 2; }
    echo "$line"
}

fetch() {
    local pyver=${PYVER:-3.12} specs=() name
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    for name in $PURE; do specs+=("$(pinned "$name")"); done
    python3 -m pip wheel -q --no-deps -w "$WHEELS" "${specs[@]}"
    specs=()
    for name in $COMPILED; do specs+=("$(pinned "$name")"); done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$WHEELS" "${specs[@]}"
    ls "$WHEELS"
    du -sh "$WHEELS"
}

run() {
    : "${OUT:?set OUT to the folder for the logs (the device machine sets it)}"
    [ -d "$WHEELS" ] || { echo "error: no wheels folder $WHEELS: run '$0 fetch' first and carry it" >&2; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    python3 -c "import torch, engine; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
        torch.cuda.get_device_name() if torch.cuda.is_available() else '')" | tee "$OUT/versions.txt"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$OUT/versions.txt" 2>&1 || true
    # the CUDA paths first (short): DDP over NCCL, AMP, the device input pipeline, CUDA RNG resume
    local status=0
    timeout "${TESTS_TIMEOUT:-240}" python3 -m pytest -q -p no:cacheprovider -o addopts="" -m "not slow" \
        tests/schedule/test_distributed_cuda.py tests/solver/test_amp.py tests/data/test_device_batches.py \
        tests/utils/test_cuda_rng_resume.py tests/model/test_compile.py 2>&1 | tee "$OUT/cuda_tests.log" || status=1
    # then the benchmark (its own estimate: ~265 s on one H100)
    timeout "${BENCH_TIMEOUT:-330}" python3 benchmarks/gpu_throughput.py --json "$OUT/gpu_throughput.json" \
        2>&1 | tee "$OUT/gpu_throughput.log" || status=1
    return $status
}

case "${1:-}" in
    fetch) fetch ;;
    run) run ;;
    *) echo "usage: $0 fetch|run" >&2; exit 2 ;;
esac
