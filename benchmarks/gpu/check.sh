#!/usr/bin/env bash
# The prepared GPU check for a session that is lent a GPU machine (docs/PERFORMANCE.md, "On a
# GPU"): ~5 minutes. Here first: `bash benchmarks/gpu/wheels.sh`. Then one device call, from
# the repo root:  run(command="bash benchmarks/gpu/check.sh", carry=[".whl"], timeout_s=480)
# It benchmarks the authors' configuration and the default one at populations in the thousands
# (throughput, compile time, peak GPU memory) and trains CartPole briefly; everything it
# measures comes back under $OUT (7 files). Runs on a CPU machine too (OUT=runs/gpu_check).
set -uo pipefail
OUT=${OUT:-runs/gpu_check}
PY=${PY:-python3}
POPS=${POPS:-1024,4096,16384}  # smaller for a trial on a CPU: POPS=8,16 BIG=16 TRAIN_POP=16 GENS=3
BIG=${BIG:-16384}
TRAIN_POP=${TRAIN_POP:-1024}
GENS=${GENS:-40}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
date; nvidia-smi -L 2>/dev/null || true
$PY -c "import jax, jaxlib; print('jax', jax.__version__, jaxlib.__version__, jax.devices())" || exit 1
small=(log.wandb=disabled log.figures=false log.render=false --generations 2)
# 1. the authors' configuration (synapse placement), populations in the thousands
$PY -m agents.cli bench configs/bench_paper.yaml "${small[@]}" \
  --sweep strategy.population=$POPS --point-timeout 100 --out "$OUT/paper"
rm -f "$OUT/paper/bench_sweep.md"  # the .jsonl holds the same rows; keeps $OUT within 8 files
# 2. the default configuration (neuron placement) at the largest population
timeout 90 $PY -m agents.cli bench configs/cartpole.yaml "${small[@]}" strategy.population=$BIG \
  | tail -1 > "$OUT/cartpole_big.json"
cat "$OUT/cartpole_big.json"
# 3. a short training run: does the GPU path learn, and how fast is a generation
timeout 150 $PY -m agents.cli train configs/cartpole.yaml strategy.population=$TRAIN_POP strategy.generations=$GENS \
  log.wandb=disabled log.figures=false log.final_lifetimes=16 --out /tmp/gpu_train
cp /tmp/gpu_train/summary.json "$OUT/train_summary.json" 2>/dev/null
cp /tmp/gpu_train/training_curve.png "$OUT/train_curve.png" 2>/dev/null
date
