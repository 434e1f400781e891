#!/bin/bash
# Quiet window: pause the background training runs, time layouts under the AVX2 cap and at the full ISA.
cd /work/main
PIDS=$(pgrep -f "sfnn train")
kill -STOP $PIDS
trap "kill -CONT $PIDS" EXIT
sleep 3
B=".venv/bin/sfnn bench"
for round in 1 2; do
  for isa in AVX2 none; do
    if [ $isa = none ]; then X=""; else X="--xla_cpu_max_isa=$isa"; fi
    for lanes in 16 null; do
      echo "round=$round isa=$isa pop8 lanes=$lanes"; XLA_FLAGS=$X $B configs/bench_paper.yaml strategy.population=8 parallel.lanes=$lanes --generations 3 | tail -1
    done
    for chunk in 32 64; do
      echo "round=$round isa=$isa bench_paper pop64 chunk=$chunk"; XLA_FLAGS=$X $B configs/bench_paper.yaml parallel.chunk=$chunk --generations 3 | tail -1
      echo "round=$round isa=$isa default chunk=$chunk"; XLA_FLAGS=$X $B configs/default.yaml log.wandb=disabled parallel.chunk=$chunk --generations 3 | tail -1
    done
  done
done
