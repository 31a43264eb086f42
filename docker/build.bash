#!/usr/bin/env bash
# Build the engine's base image and a project's training image.
#
#   bash docker/build.bash [all|base|project] [EXTRA DOCKER BUILD ARGS...]
#
#   bash docker/build.bash                                  # both, for the bundled example
#   PROJECT_DIR=~/my_project PROJECT_TAG=my-train bash docker/build.bash project
#   bash docker/build.bash base --no-cache --progress=plain
#
# Variables (default):
#   BASE_TAG     the base image's name            (engine-base:latest)
#   PROJECT_TAG  the project image's name         (engine-train:latest)
#   PROJECT_DIR  folder holding codes/, train.py  (this repository)
#   CUDA_IMAGE   the CUDA image to start from     (docker/Dockerfile's BASE_IMAGE)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
what=${1:-all}
[[ $# -gt 0 ]] && shift
base_tag=${BASE_TAG:-engine-base:latest}
project_tag=${PROJECT_TAG:-engine-train:latest}
project_dir=${PROJECT_DIR:-$repo}

case $what in
    all | base | project) ;;
    *)
        echo "build.bash: unknown target '$what': expected all, base or project" >&2
        exit 64
        ;;
esac

if [[ $what != project ]]; then
    cuda_arg=()
    [[ -n ${CUDA_IMAGE:-} ]] && cuda_arg=(--build-arg "BASE_IMAGE=$CUDA_IMAGE")
    # The context is the repository: setup.py, engine/, requirements.txt, constraints.txt.
    docker build -f "$repo/docker/Dockerfile" ${cuda_arg[@]+"${cuda_arg[@]}"} \
        -t "$base_tag" "$@" "$repo"
fi

if [[ $what != base ]]; then
    for need in codes train.py; do
        if [[ ! -e $project_dir/$need ]]; then
            echo "build.bash: $project_dir/$need not found: PROJECT_DIR must hold codes/ and train.py" >&2
            exit 66
        fi
    done
    # The context is the project folder; docker/Dockerfile.project.dockerignore filters it.
    docker build -f "$repo/docker/Dockerfile.project" --build-arg "ENGINE_IMAGE=$base_tag" \
        -t "$project_tag" "$@" "$project_dir"
fi
