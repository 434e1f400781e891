"""How large a genome's plastic vectors grow within a lifetime, and when their direction settles.

Under the authors' additive rule (e ← e + η·GRU(x, e)) nothing bounds a plastic vector: where an
evolved GRU keeps its update gate at 1, the vectors of a block grow by (1 + η) every update. This
script lives N fresh lifetimes of a run's genome (``sfnn meta-test``'s genome: the final one, or a
checkpoint's mean) through the training code path (``agents.rl.viz.trace_lifetimes``) and prints,
per block of edges (synapse placement) or group of neurons (neuron placement):

* the largest magnitude at the end of each episode (window), lifetime by lifetime, and the median
  growth per step between consecutive ends. Past 2⁹⁶ ``model.plastic_rescale``
  scales the vectors into a neuron by 2⁻⁶⁴; ``--no-rescale`` shows them as they would be (float32
  overflows at ~3.4e38);
* how early the block's direction settles: the cosine between the whole block (one vector) at
  steps 50, 200, 500, 1000, 2000 and at the lifetime's end. A cosine of 1 from step 500 on means
  that what the block holds was set in the first window and only grows afterwards;

split by how the lifetime ended (its mean over episodes FIRST..LAST at or above ``--threshold``,
or below ``--low``): does a lifetime that never learns look different inside?

    .venv/bin/python benchmarks/plastic_growth.py RUN_DIR --env CartPole-v1 [--lifetimes 32]
        [--checkpoint STEP] [--episodes 8] [--no-rescale] [--threshold 475] [--low 100] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from agents.metatest import MetaTestOptions, run_genome  # noqa: E402
from agents.rl.viz import LifetimeTrace, trace_lifetimes  # noqa: E402
from agents.rundir import load_run_config  # noqa: E402

COSINE_STEPS = (50, 200, 500, 1000, 2000)


def block_growth(trace: LifetimeTrace) -> dict[str, dict[str, list[float]]]:
    """Per block (group) of one lifetime: its largest magnitude at each episode's end, and the
    cosine between the whole block at ``COSINE_STEPS`` (those the lifetime reaches) and at its end."""
    ends = np.cumsum(trace.lengths) - 1
    out = {}
    for name, frames in trace.rows.items():
        flat = frames.reshape(len(frames), -1).astype(np.float64)
        at = lambda step: min(int(np.searchsorted(trace.frame_steps, step)), len(flat) - 1)  # noqa: E731
        peak = [float(np.abs(flat[at(e)]).max()) for e in ends]
        last = flat[-1] / max(np.linalg.norm(flat[-1]), 1e-300)
        cos = [float(flat[at(s)] @ last / max(np.linalg.norm(flat[at(s)]), 1e-300))
               for s in COSINE_STEPS if s < trace.frame_steps[-1]]  # fmt: skip
        out[name] = {"peak_at_episode_end": peak, "cosine_to_end": cos}
    return out


def growth_per_step(peaks: list[float], steps: list[int]) -> float:
    """The median factor per step between consecutive episode-end peaks that did not fall (a fall
    is a rescale, or a block that shrank): 1 for a block that holds its size, 1 + η for one that
    grows at the rule's full rate."""
    p = np.asarray(peaks, np.float64)
    ok = (p[:-1] > 0) & (p[1:] >= p[:-1]) & np.isfinite(p[1:])
    if not ok.any():
        return float("nan")
    return float(np.exp(np.median(np.log(p[1:][ok] / p[:-1][ok]) / np.asarray(steps[1:], np.float64)[ok])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--env", required=True)
    ap.add_argument("--lifetimes", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=None, help="episodes per lifetime (default: the run's)")
    ap.add_argument("--checkpoint", type=int, default=None, help="a checkpoint's mean genome instead of the final one")
    ap.add_argument("--no-rescale", action="store_true", help="model.plastic_rescale=false: let the vectors overflow")
    ap.add_argument("--first", type=int, default=4, help="scored episodes FIRST..LAST (1-based), as meta-test's windows 4-8")
    ap.add_argument("--last", type=int, default=8)
    ap.add_argument("--threshold", type=float, default=475.0, help="lifetimes at or above this learned")
    ap.add_argument("--low", type=float, default=100.0, help="lifetimes below this never learned")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()

    overrides = ["model.plastic_rescale=false"] if a.no_rescale else []
    cfg = load_run_config(a.run_dir, overrides)
    if a.episodes is not None:
        cfg = dataclasses.replace(cfg, lifetime=dataclasses.replace(cfg.lifetime, episodes=a.episodes))
    genome, where = run_genome(a.run_dir, cfg, MetaTestOptions(checkpoint=a.checkpoint))
    traces = trace_lifetimes(cfg, a.env, genome, jax.random.split(jax.random.key(a.seed), a.lifetimes))
    lives = []
    for t in traces:
        score = float(np.mean(t.returns[a.first - 1 : a.last]))
        lives.append({"score": score, "returns": t.returns.tolist(), "blocks": block_growth(t)})
    groups = {"learned": [x for x in lives if x["score"] >= a.threshold],
              "never learned": [x for x in lives if x["score"] < a.low], "all": lives}  # fmt: skip
    steps = [int(s) for s in traces[0].lengths]
    print(f"{a.run_dir} ({where}), {a.env}, {a.lifetimes} lifetimes, rescale {'off' if a.no_rescale else 'on'}; "
          f"mean of episodes {a.first}-{a.last}: {np.mean([x['score'] for x in lives]):.1f}")
    summary = {}
    for gname, members in groups.items():
        if not members:
            continue
        print(f"\n{gname} ({len(members)} lifetimes):")
        summary[gname] = {}
        for block in members[0]["blocks"]:
            peaks = np.array([m["blocks"][block]["peak_at_episode_end"] for m in members])
            cos = np.array([m["blocks"][block]["cosine_to_end"] for m in members])
            rate = np.nanmedian([growth_per_step(list(p), steps) for p in peaks])
            summary[gname][block] = {"median_peak_at_episode_end": np.median(peaks, 0).tolist(),
                                     "median_growth_per_step": rate, "median_cosine_to_end": np.median(cos, 0).tolist()}
            print(f"  {block:>3}: peak at episode ends (median) " + " ".join(f"{p:.1e}" for p in np.median(peaks, 0))
                  + f"; growth per step x{rate:.4f}; cosine to the end at steps "
                  + " ".join(f"{s}:{c:.3f}" for s, c in zip(COSINE_STEPS, np.median(cos, 0))))
    if a.out:
        a.out.write_text(json.dumps({"run": str(a.run_dir), "genome": where, "env": a.env, "rescale": not a.no_rescale,
                                     "summary": summary, "lifetimes": lives}, indent=1))  # fmt: skip
        print(f"\nwritten: {a.out}")


if __name__ == "__main__":
    main()
