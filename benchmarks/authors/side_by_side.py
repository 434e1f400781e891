"""Time the authors' SFNN code and ``sfnn bench`` on the same configuration, back to back.

A speed-up is only meaningful when both sides ran on one machine in one sitting: the same CPU
differs 2-4x between AVX-512 and AVX2 hosts, and a busy neighbour slows both. This alternates
the two for ``--rounds`` rounds (authors, ours, authors, ours, ...), each in its own process
(theirs in the virtual environment of README.md here, ours in the project's), and prints every
timing, the medians and their ratio. ``--xla-max-isa none AVX2`` times our code twice a round,
at the full ISA and with the vector instructions XLA may emit capped at AVX2 (``SSE4_2`` stands
in for 128-bit NEON), which measures what an AVX2 (or 128-bit) CPU would see from an AVX-512
one. The authors' pinned jaxlib 0.4.20 predates that flag (its XLA aborts on
it), so their side always runs at the machine's full ISA: under a cap the printed ratio is a
lower bound on the ratio an AVX2 machine would show (their code is slower there too).

    .venv/bin/python benchmarks/authors/side_by_side.py --pop 64 --rounds 2
    .venv/bin/python benchmarks/authors/side_by_side.py --pop 128 --rounds 2 --xla-max-isa none AVX2

Both sides run the authors' model on CartPole (8 windows of 500 steps per lifetime, P x 8 x 500
agent-steps a generation): theirs is their population evaluation (``time_authors.py``), ours a
whole generation, CMA-ES ask and tell included (``sfnn bench configs/bench_paper.yaml
strategy.population=P``), so ours is timed on slightly more work. The JSON written to ``--out``
holds every line both printed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def last_json(text: str) -> dict:
    """The last line of ``text`` that parses as a JSON object (both tools print one)."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON line in the output")


def run(cmd: list[str], env: dict) -> dict:
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return last_json(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="authors/ours pairs, alternated")
    ap.add_argument("--generations", type=int, default=3, help="timed generations per process")
    ap.add_argument("--xla-max-isa", nargs="+", default=["none"], choices=["none", "SSE4_2", "AVX", "AVX2", "AVX512"],
                    help="time our code under each of these XLA ISA caps in every round (XLA_FLAGS="
                         "--xla_cpu_max_isa); none: the machine's full ISA. Default: none")
    ap.add_argument("--authors-python", default=os.path.join(HERE, ".venv", "bin", "python"),
                    help="the authors' virtual environment (README.md here)")
    ap.add_argument("--sfnn", default=os.path.join(ROOT, ".venv", "bin", "sfnn"))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "bench_paper.yaml"))
    ap.add_argument("--out", default=None, help="JSON file for every timing (default: print only)")
    args = ap.parse_args()
    for path, what in ((args.authors_python, "the authors' Python (see README.md here)"), (args.sfnn, "sfnn")):
        if not os.path.exists(path):
            sys.exit(f"{what} not found at {path}")

    theirs_cmd = [args.authors_python, os.path.join(HERE, "time_authors.py"), "--pop", str(args.pop),
                  "--generations", str(args.generations)]
    ours_cmd = [args.sfnn, "bench", args.config, f"strategy.population={args.pop}",
                "--generations", str(args.generations)]
    caps = list(dict.fromkeys(args.xla_max_isa))

    def env_for(cap: str) -> dict:  # ours only: jaxlib 0.4.20's XLA does not know the flag (see above)
        env = dict(os.environ)
        if cap != "none":
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_cpu_max_isa={cap}").strip()
        return env

    theirs: list[dict] = []
    ours: dict[str, list[dict]] = {cap: [] for cap in caps}
    for r in range(args.rounds):
        theirs.append(run(theirs_cmd, dict(os.environ)))
        line = f"round {r + 1}: authors {theirs[-1]['agent_steps_per_s']:,.0f} agent-steps/s (compile {theirs[-1]['compile_s']:.1f} s)"
        for cap in caps:
            ours[cap].append(run(ours_cmd, env_for(cap)))
            line += f", ours [{cap}] {ours[cap][-1]['agent_steps_per_s']:,.0f} (compile {ours[cap][-1]['compile_s']:.1f} s)"
        print(line, flush=True)
    a = statistics.median(t["agent_steps_per_s"] for t in theirs)
    last = ours[caps[0]][-1]
    summary = {
        "pop": args.pop,
        "cpu": last.get("cpu"),
        "cpu_isa": last.get("cpu_isa"),
        "authors_agent_steps_per_s": a,
        "authors_compile_s": statistics.median(t["compile_s"] for t in theirs),
        "ours": {},
        "authors": theirs,
    }
    for cap in caps:
        o = statistics.median(t["agent_steps_per_s"] for t in ours[cap])
        summary["ours"][cap] = {
            "agent_steps_per_s": o,
            "ratio": o / a,
            "compile_s": statistics.median(t["compile_s"] for t in ours[cap]),
            "vector_isa": ours[cap][-1].get("vector_isa"),
            "runs": ours[cap],
        }
        note = "no ISA cap" if cap == "none" else f"ours capped at {cap}, theirs uncapped: a lower bound"
        print(f"median: authors {a:,.0f}, ours {o:,.0f} agent-steps/s -> {o / a:.1f}x "
              f"(population {args.pop}, {note}, {summary['cpu']}, {summary['cpu_isa']})")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
