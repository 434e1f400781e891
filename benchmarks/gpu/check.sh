#!/usr/bin/env bash
# The prepared GPU check for a session that is lent a GPU machine (docs/PERFORMANCE.md, "On a
# GPU"): at most ~7.5 minutes. Here first: `bash benchmarks/gpu/wheels.sh`. Then one device call,
# from the repo root:  run(command="bash benchmarks/gpu/check.sh", carry=[".whl"], timeout_s=470)
# Ordered by value, each step under its own timeout so a slow one cannot starve the rest: the
# authors' configuration at populations in the thousands (throughput, compile time, peak GPU
# memory), the default configuration at the largest population, a short CartPole training run
# (its metrics.jsonl is copied even if it is cut short), then the authors' configuration at the
# largest population. Everything comes back under $OUT (at most 8 files). Runs on a CPU machine
# too (OUT=runs/gpu_check; smaller: POPS=8,16 BIG=16 TRAIN_POP=16 GENS=3).
set -uo pipefail
OUT=${OUT:-runs/gpu_check}
PY=${PY:-python3}
POPS=${POPS:-1024,4096}
BIG=${BIG:-16384}
TRAIN_POP=${TRAIN_POP:-1024}
GENS=${GENS:-30}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
date; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
$PY -c "import jax, jaxlib, numpy; print('jax', jax.__version__, jaxlib.__version__, 'numpy', numpy.__version__, jax.devices())" || exit 1
$PY -c "import evosax, gymnax, brax, omegaconf, agents.cli, agents.trainer" || exit 1
small=(log.wandb=disabled log.figures=false log.render=false --generations 2)
echo "== 1. authors' configuration (synapse), populations $POPS"
$PY -m agents.cli bench configs/bench_paper.yaml "${small[@]}" \
  --sweep strategy.population=$POPS --point-timeout 90 --out "$OUT/paper"
rm -f "$OUT/paper/bench_sweep.md"  # the .jsonl holds the same rows; keeps $OUT within 8 files
echo "== 2. default configuration (neuron), population $BIG"
timeout 80 $PY -m agents.cli bench configs/cartpole.yaml "${small[@]}" strategy.population=$BIG \
  | tail -1 > "$OUT/cartpole_big.json"
cat "$OUT/cartpole_big.json"
echo "== 3. CartPole training, population $TRAIN_POP, $GENS generations"
rm -rf /tmp/gpu_train
timeout 110 $PY -m agents.cli train configs/cartpole.yaml strategy.population=$TRAIN_POP strategy.generations=$GENS \
  log.wandb=disabled log.figures=false log.final_lifetimes=16 --out /tmp/gpu_train
cp /tmp/gpu_train/metrics.jsonl "$OUT/train_metrics.jsonl" 2>/dev/null
cp /tmp/gpu_train/summary.json "$OUT/train_summary.json" 2>/dev/null
echo "== 4. authors' configuration, population $BIG"
timeout 80 $PY -m agents.cli bench configs/bench_paper.yaml "${small[@]}" strategy.population=$BIG \
  | tail -1 > "$OUT/paper_big.json"
cat "$OUT/paper_big.json"
date
