#!/usr/bin/env bash
# The prepared GPU check for a session that is lent a GPU machine (docs/PERFORMANCE.md, "On a
# GPU"): about 7 minutes on an H200. Here first: `bash benchmarks/gpu/wheels.sh`. Then one
# device call, from the repo root:
#   run(command="bash benchmarks/gpu/check.sh", carry=[".whl"], timeout_s=600)
# Ordered by value, each step under its own timeout so a slow one cannot starve the rest: the
# authors' configuration at populations in the thousands (throughput, compile time, peak GPU
# memory), the default configuration at the largest population, four short CartPole training
# runs (two with XLA's default GPU flags, two with deterministic ops: is each pair identical?),
# the authors' configuration at the largest population, the fast-path-equals-reference tests on
# the GPU, a brax environment, and other layouts of the synapse step (the vmapped reference,
# sigmoids through tanh, fusion left to XLA). Everything comes back under $OUT (8 files), also
# when the call is cut short. Runs on a CPU machine too (OUT=runs/gpu_check; smaller: POPS=8,16
# BIG=16 TRAIN_POP=16 GENS=12 BRAX_POP=16 VARIANT_POP=16).
set -uo pipefail
OUT=${OUT:-runs/gpu_check}
PY=${PY:-python3}
POPS=${POPS:-1024,4096}
BIG=${BIG:-16384}
TRAIN_POP=${TRAIN_POP:-1024}
BRAX_POP=${BRAX_POP:-4096}
VARIANT_POP=${VARIANT_POP:-4096}
GENS=${GENS:-15}  # crosses the first checkpoint (every 10), where two runs parted on 2026-11-30
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
echo "== 1. authors' configuration (synapse, their update timing: learn_every step), populations $POPS"
$PY -m agents.cli bench configs/bench_paper.yaml "${small[@]}" \
  --sweep strategy.population=$POPS --point-timeout 90 --out "$OUT/paper"
rm -f "$OUT/paper/bench_sweep.md"  # the .jsonl holds the same rows; keeps $OUT within 8 files
echo "== 2. default configuration (neuron), population $BIG"
timeout 80 $PY -m agents.cli bench configs/cartpole.yaml "${small[@]}" strategy.population=$BIG \
  | tail -1 > "$OUT/cartpole_big.json"
cat "$OUT/cartpole_big.json"
echo "== 3. CartPole training, population $TRAIN_POP, $GENS generations, twice; then twice with deterministic XLA ops"
# Are two runs of one config the same on this GPU (docs/RELIABILITY.md, determinism)? Each pair is
# compared generation by generation; the first run's metrics and summary come back.
train() {  # $1: run directory; XLA_FLAGS from the caller
  timeout 75 $PY -m agents.cli train configs/cartpole.yaml strategy.population=$TRAIN_POP \
    strategy.generations=$GENS log.wandb=disabled log.figures=false log.progress=false log.final_lifetimes=16 --out "$1" \
    | grep -E "^done|final genome|learning off"
}
same() {  # first generation whose metrics differ (wall times aside), and whether the saved genomes
  # are the same bits (metrics can agree while the networks differ in the last bits: returns are
  # whole numbers of steps)
  $PY - "$1" "$2" <<'PYEOF'
import json, sys
import numpy as np
a, b = ([json.loads(x) for x in open(f"{d}/metrics.jsonl")] for d in sys.argv[1:3])
strip = lambda r: {k: v for k, v in r.items() if k != "wall_s"}
diff = [g for g, (x, y) in enumerate(zip(a, b)) if strip(x) != strip(y)]
ga, gb = (np.load(f"{d}/genomes.npz") for d in sys.argv[1:3])
same_bits = sorted(ga.files) == sorted(gb.files) and all(np.array_equal(ga[k], gb[k]) for k in ga.files)
print(f"{len(a)} and {len(b)} generations:", f"metrics first differ at generation {diff[0]}" if diff else "metrics identical",
      "; genomes.npz", "identical" if same_bits else "differs")
PYEOF
}
rm -rf /tmp/gpu_train_*
train /tmp/gpu_train_a; train /tmp/gpu_train_b; echo -n "default XLA flags: "; same /tmp/gpu_train_a /tmp/gpu_train_b
XLA_FLAGS=--xla_gpu_deterministic_ops=true train /tmp/gpu_train_c
XLA_FLAGS=--xla_gpu_deterministic_ops=true train /tmp/gpu_train_d
echo -n "--xla_gpu_deterministic_ops=true: "; same /tmp/gpu_train_c /tmp/gpu_train_d
cp /tmp/gpu_train_a/metrics.jsonl "$OUT/train_metrics.jsonl" 2>/dev/null
cp /tmp/gpu_train_a/summary.json "$OUT/train_summary.json" 2>/dev/null
echo "== 4. authors' configuration, population $BIG"
timeout 80 $PY -m agents.cli bench configs/bench_paper.yaml "${small[@]}" strategy.population=$BIG \
  | tail -1 > "$OUT/paper_big.json"
cat "$OUT/paper_big.json"
echo "== 5. fast path = reference, on this backend"
XLA_FLAGS= JAX_PLATFORMS= timeout 110 $PY -m pytest -q -p no:cacheprovider tests/test_network.py -k fast_population 2>&1 | tail -15
echo "== 6. brax inverted pendulum (synapse, 16 neurons, 3 x 1000-step lifetimes), population $BRAX_POP"
timeout 120 $PY -m agents.cli bench configs/brax_inverted_pendulum.yaml "${small[@]}" strategy.population=$BRAX_POP \
  | tail -1 > "$OUT/brax_pendulum.json"
cat "$OUT/brax_pendulum.json"
echo "== 7. layouts of the synapse step on this backend (population $VARIANT_POP, 100 steps; ratios to the library's)"
timeout 100 $PY benchmarks/synapse_kernel.py --pop $VARIANT_POP --steps 100 --rounds 2 current reference sigmoid_tanh before
date
