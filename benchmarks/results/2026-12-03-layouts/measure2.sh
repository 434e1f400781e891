#!/bin/bash
cd /work/main
PIDS=$(pgrep -f "sfnn train" | tr '\n' ' ')
kill -STOP $PIDS
trap "kill -CONT $PIDS" EXIT
sleep 3
B=".venv/bin/sfnn bench"
for round in 1 2; do
  for isa in AVX2 none SSE4_2; do
    if [ $isa = none ]; then X=""; else X="--xla_cpu_max_isa=$isa"; fi
    for pop in 8 40; do
      for lanes in 32 16 null; do
        echo "round=$round isa=$isa pop$pop lanes=$lanes"; XLA_FLAGS=$X $B configs/bench_paper.yaml strategy.population=$pop parallel.lanes=$lanes --generations 3 | tail -1
      done
    done
    if [ $isa = SSE4_2 ]; then
      for chunk in 64 32; do
        echo "round=$round isa=$isa bench_paper pop64 chunk=$chunk"; XLA_FLAGS=$X $B configs/bench_paper.yaml parallel.chunk=$chunk --generations 3 | tail -1
      done
    fi
  done
done
