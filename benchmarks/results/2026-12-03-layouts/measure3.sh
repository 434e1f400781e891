#!/bin/bash
cd /work/main
PIDS=$(pgrep -f "sfnn train" | tr '\n' ' ')
kill -STOP $PIDS
trap "kill -CONT $PIDS" EXIT
sleep 3
B=".venv/bin/sfnn bench"
export XLA_FLAGS=--xla_cpu_max_isa=AVX2
for round in 1 2 3; do
  for layout in old new; do
    if [ $layout = old ]; then L="parallel.lanes=16 parallel.chunk=64"; else L=""; fi
    echo "round=$round $layout bench_paper pop64"; $B configs/bench_paper.yaml $L --generations 3 | tail -1
    echo "round=$round $layout default"; $B configs/default.yaml log.wandb=disabled $L --generations 3 | tail -1
    for pop in 8 24; do
      echo "round=$round $layout bench_paper pop$pop"; $B configs/bench_paper.yaml strategy.population=$pop $L --generations 3 | tail -1
    done
  done
done
unset XLA_FLAGS
.venv/bin/python benchmarks/authors/side_by_side.py --pop 64 --rounds 2 --xla-max-isa none AVX2 --out runs/isa/side_by_side_pop64.json
