#!/bin/bash
# Every table of docs/RESULTS.md "Wiring or chance" (2026-12-06): 48 wirings x 4 lives each.
set -e
D=benchmarks/results/2026-12-06-wiring-or-chance
W="--wirings 48 --seeds 4"
py=".venv/bin/python benchmarks/wiring_or_chance.py"
$py pretrained/three_env_from_acrobot --env CartPole-v1 $W --threshold 475 --connect-prob 0.4 0.5 0.6 0.7 --out $D/three_env_cartpole.json
$py pretrained/three_env_from_acrobot --env Acrobot-v1 $W --threshold -100 --connect-prob 0.4 0.5 0.6 0.7 --out $D/three_env_acrobot.json
$py pretrained/three_env_from_acrobot --env MountainCar-v0 $W --threshold -130 --connect-prob 0.4 0.5 0.6 0.7 --out $D/three_env_mountaincar.json
$py benchmarks/results/2026-12-03-acrobot-two-wirings/acrobot_l4_from_739 --env Acrobot-v1 $W --threshold -100 \
    --connect-prob 0.4 0.45 0.5 0.55 0.6 0.75 --out $D/acrobot_l4.json
$py pretrained/cartpole_475 --env CartPole-v1 $W --threshold 475 --connect-prob 0.5 0.6 0.7 --out $D/cartpole_475.json
$py pretrained/authors_cartpole --env CartPole-v1 $W --threshold 475 --connect-prob 0.5 0.6 0.7 0.8 --out $D/authors_cartpole.json
$py pretrained/mountaincar_130 --env MountainCar-v0 $W --threshold -130 --out $D/mountaincar_130.json
