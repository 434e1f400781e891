# The two rows of the CartPole ablations that were queued on 2026-12-02 (benchmarks/results/2026-12-02-ablations,
# same base, seed 100): two fresh lifetimes per member, and population 256. Run 2026-12-03/04 beside other runs.
cd "$(git rev-parse --show-toplevel)" && .venv/bin/python benchmarks/ablate.py configs/authors.yaml --base 'envs=[CartPole-v1]' --generations 200 \
  --target 100 --target 200 --target 475 --out runs/ablations/cartpole \
  --variant lifetimes2=lifetime.lifetimes=2 --variant pop256=strategy.population=256
