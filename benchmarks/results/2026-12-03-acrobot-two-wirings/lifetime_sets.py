"""How much a 64-wiring mean moves between sets of wirings: the two-wirings Acrobot genome (739
generations) on three disjoint sets of 64 fresh lifetimes. Seed offset 10,000 holds the trainer's
final evaluation (lifetimes 0-15 choose the genome, 16-31 report it), 20,000 is `sfnn meta-test`'s
and 30,000 neither's. Run from the repository root."""

import sys
from pathlib import Path

from agents.rl.finish import evaluate_lifetimes, repeat_genome
from agents.rundir import load_genome, load_run_config

run = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "acrobot_l2_from_alone_739")
cfg = load_run_config(run)
genomes = repeat_genome(load_genome(run, cfg), 64)
for offset in (10_000, 20_000, 30_000):
    r = evaluate_lifetimes(cfg, genomes, seed_offset=offset)["Acrobot-v1"]
    print(f"seed offset {offset}: windows 4-8 over 64 lifetimes {r[:, 3:].mean():.1f}, "
          f"lifetimes 0-15 {r[:16, 3:].mean():.1f}, 16-31 {r[16:32, 3:].mean():.1f}")
