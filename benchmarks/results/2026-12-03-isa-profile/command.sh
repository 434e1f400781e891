#!/usr/bin/env bash
# Where a generation's time goes under each vector ISA (docs/PERFORMANCE.md, "Where the time goes
# on each ISA"): the authors' model on CartPole (configs/bench_paper.yaml, population 64), one
# generation traced with jax.profiler after two untimed ones, on one core (taskset -c 1) while a
# training run held the other; two rounds. AVX512 = no cap (the AMD EPYC's own ISA); AVX2 and
# SSE4_2 = XLA capped with --xla_cpu_max_isa. Run from the repository root.
cd "$(dirname "$0")"
root=../../..
for r in 1 2; do
  for isa in AVX512 AVX2 SSE4_2; do
    if [ $isa = AVX512 ]; then XF=""; else XF="--xla_cpu_max_isa=$isa"; fi
    XLA_FLAGS="$XF" taskset -c 1 $root/.venv/bin/python $root/benchmarks/profile_lifetime.py \
      --config $root/configs/bench_paper.yaml log.wandb=disabled --top 1000 > bench_paper_${isa}_r$r.txt 2>&1
  done
done
python3 summarize.py bench_paper_*.txt
