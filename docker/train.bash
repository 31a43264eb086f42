#!/usr/bin/env bash
# Train in the project image as the calling user; every argument goes to train.py.
#
#   bash docker/train.bash --config-file codes/configs/digits.py --num-gpus 2
#   GPUS='"device=0,1"' DATA_DIR=/mnt/datasets bash docker/train.bash --config-file /mnt/datasets/cfg.py --num-gpus 2
#
# Variables (default):
#   IMAGE        the project image                        (engine-train:latest)
#   GPUS         value of docker's --gpus; empty: no GPU  (all)
#   SHM_SIZE     /dev/shm size, for DataLoader workers    (16g)
#   DATA_DIR     host folder mounted at the same path     (/data; skipped when missing)
#   OUTPUT_DIR   host folder mounted at /workspace/output (./output)
#   DOCKER_ARGS  more `docker run` arguments, split on spaces, e.g. "--net=host -e NCCL_DEBUG=INFO"
# See doc/docker.md for what each flag does and for multi-GPU / multi-node runs.
set -euo pipefail

image=${IMAGE:-engine-train:latest}
gpus=${GPUS-all}
shm_size=${SHM_SIZE:-16g}
data_dir=${DATA_DIR:-/data}
output_dir=${OUTPUT_DIR:-$PWD/output}

# Created here, so it belongs to the caller (docker would create a missing one as root).
mkdir -p "$output_dir"
output_dir=$(cd "$output_dir" && pwd)

run_args=(
    --rm --init
    --stop-timeout 120
    -e USER_ID="$(id -u)" -e GROUP_ID="$(id -g)"
    --shm-size="$shm_size"
    --ulimit memlock=-1
    -v "$output_dir:/workspace/output"
)
[[ -n $gpus ]] && run_args+=(--gpus "$gpus")
if [[ -d $data_dir ]]; then
    run_args+=(-v "$data_dir:$data_dir")
else
    echo "train.bash: DATA_DIR=$data_dir does not exist; not mounting it" >&2
fi
[[ -t 0 && -t 1 ]] && run_args+=(-it)
extra=()
[[ -n ${DOCKER_ARGS:-} ]] && read -r -a extra <<<"$DOCKER_ARGS"

exec docker run "${run_args[@]}" ${extra[@]+"${extra[@]}"} "$image" "$@"
