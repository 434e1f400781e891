#!/usr/bin/env bash
# Download, here, the wheels that the GPU machine lacks into .whl/ (git-ignored), for
# benchmarks/gpu/check.sh. That machine's image has Python 3.12 with JAX (CUDA), flax, optax,
# orbax, matplotlib, tqdm, scikit-learn, ... but not the environments, the ES library or the
# config parser, and it cannot reach a package index. Versions are the ones `make test` runs.
# Usage (repo root): bash benchmarks/gpu/wheels.sh [python-version, default 3.12]
set -euo pipefail
pyver=${1:-3.12}
dest=${WHEEL_DIR:-.whl}
mkdir -p "$dest"
pkgs=(
  evosax==0.3.2 dotmap==1.3.30                       # the ES
  gymnax==1.0.1 gymnasium==1.3.0 farama-notifications==0.0.6  # gymnax environments
  omegaconf==2.4.0                                   # configs
  brax==0.14.2 mujoco==4.0.0 mujoco-core==4.0.0 mujoco-mjx==3.17.0 trimesh==5.2.0
  ml-collections==1.1.0 jaxopt==0.8.5 tensorboardx==2.6.5 glfw==2.11.0 flask==3.1.3 flask-cors==6.0.5
)
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  plat+=(--platform "$p")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  "${plat[@]}" -d "$dest" "${pkgs[@]}"
du -sh "$dest"
