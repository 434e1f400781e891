# The second seed of three rows of the CartPole ablations (benchmarks/results/2026-12-02-ablations used seed 100).
cd "$(git rev-parse --show-toplevel)" && .venv/bin/python benchmarks/ablate.py configs/authors.yaml --base 'envs=[CartPole-v1]' --base seed=101 --generations 200 \
  --target 100 --target 200 --target 475 --out runs/ablations/cartpole_seed101 \
  --variant authors= --variant shared_wiring=lifetime.wiring=shared --variant pop64=strategy.population=64
