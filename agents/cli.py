"""The ``sfnn`` command: train, meta-test, bench, envs.

Bad input of any kind ends in one line on stderr and exit status 2, never a traceback, and
never touches an existing run directory. jax is imported only after XLA flags are set.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise SystemExit(_fail(f"{message} (see {self.prog} --help)"))


def _fail(msg: str) -> int:
    print(f"sfnn: error: {msg}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sfnn", description="Evolved plastic networks: train, meta-test, benchmark.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="evolve a genome (writes a run directory)")
    t.add_argument("config", nargs="?", help="YAML config, e.g. configs/cartpole.yaml (omit with --resume)")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. strategy.population=32")
    t.add_argument("--out", type=Path, help="run directory to create (default runs/<time>-<envs>-<placement>)")
    t.add_argument("--resume", type=Path, help="continue the run in this directory from its newest checkpoint")
    m = sub.add_parser("meta-test", help="evaluate a run's genome on any registered environment or dataset")
    m.add_argument("run_dir", type=Path)
    m.add_argument("--env", action="append", required=True, help="environment or dataset name (repeatable)")
    m.add_argument("--lifetimes", type=int, default=16, help="fresh lifetimes per environment (default 16)")
    m.add_argument("--steps", type=int, help="dataset runs: inner learning steps (default the run's supervised.inner_steps)")
    m.add_argument("--hidden", help="dataset runs: hidden layer sizes of the meta-test network, e.g. 64 or 64,32 "
                                    "(default the run's supervised.hidden; maml and reptile keep their initialisation's)")
    m.add_argument("--hidden-neurons", type=int, help="SFNN runs: hidden neurons of every meta-test network (default: "
                                                     "the run's total where it leaves as many as training had, else "
                                                     "training's count, beside each environment's inputs and outputs)")
    m.add_argument("--connect-prob", type=float, metavar="P",
                   help="SFNN runs: edge probability of every meta-test wiring (default: the run's "
                        "model.connect_prob); a genome does not depend on it, so it can be deployed on denser or "
                        "sparser networks than it was evolved on")
    m.add_argument("--max-steps", type=int, help="environment runs: episode cap (default: each environment's own; the "
                                                "run's for environments it trained on)")
    m.add_argument("--episode-mode", choices=["window", "consecutive"],
                   help="environment runs: the authors' fixed-length windows or episodes back to back (default: "
                        "the run's lifetime.episode_mode)")
    m.add_argument("--episodes", type=int, help="environment runs: episodes per lifetime (default: the run's "
                                                "lifetime.episodes)")
    m.add_argument("--out", type=Path, help="JSON output file (default RUN_DIR/meta_test.json); plots, and the "
                                            "wandb log, go beside it")
    m.add_argument("--seed", type=int, default=20_000,
                   help="seed of the fresh wirings and episodes (default 20000; another seed draws another set of "
                        "lifetimes, to see how much a figure owes to the set)")
    m.add_argument("--checkpoint", nargs="?", const="newest", metavar="STEP",
                   help="evaluate the search's mean genome in the run's newest checkpoint (or in checkpoint STEP, "
                        "one of those the run kept) instead of its final genome: a run still training, stopped "
                        "before its final evaluation, or a genome chosen among checkpoints")
    m.add_argument("--compare", type=Path, action="append", default=[],
                   help="another run (e.g. a baseline) to evaluate on the same lifetimes (repeatable)")
    m.add_argument("--learn-windows", type=int, metavar="K",
                   help="environment runs under windows: also evaluate the genome with learning off after window K "
                        "(the same lifetimes): does it need to keep learning, or does it unlearn?")
    ch = sub.add_parser("choose", help="score the search's genome in every checkpoint a run kept, as the final "
                                        "evaluation scores its candidates, on the same fresh lifetimes; name the best")
    ch.add_argument("run_dir", type=Path)
    ch.add_argument("--lifetimes", type=int, default=32,
                    help="fresh lifetimes (dataset runs: tasks per dataset) every checkpoint lives (default 32)")
    ch.add_argument("--seed", type=int, default=10,
                    help="seed of those lifetimes (default 10: not meta-test's 20000, on which to report the choice)")
    ch.add_argument("--halving", action="store_true",
                    help="successive halving: score all checkpoints on --lifetimes, keep the better half, score those "
                         "on as many new lifetimes (seed + 1, + 2, ...) until two remain, each ranked on all its rounds: "
                         "the last two are told apart on lifetimes x rounds each, for about twice one round's cost")
    ch.add_argument("--out", type=Path, help="JSON output file (default RUN_DIR/choose.json)")
    b = sub.add_parser("bench", help="time generations; prints one JSON line")
    b.add_argument("config", nargs="?", help="YAML config (default: built-in defaults)")
    b.add_argument("overrides", nargs="*")
    b.add_argument("--generations", type=int, default=2,
                   help="timed generations after compilation (the JSON gives the median's throughput and the fastest's)")
    b.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="benchmark each value in its own process (repeatable, one key each), e.g. "
                        "strategy.population=16,64,256; writes a table and a plot into --out")
    b.add_argument("--out", type=Path, default=Path("runs/bench"), help="sweep output folder (default runs/bench)")
    b.add_argument("--point-timeout", type=float, default=None, metavar="SECONDS",
                   help="sweep: stop a point after this long and record it as failed (default: no limit)")
    c = sub.add_parser("compare", help="plot the training curves of several runs in one figure")
    c.add_argument("runs", type=Path, nargs="+", help="run directories")
    c.add_argument("--out", type=Path, required=True, help="PNG file to write")
    c.add_argument("--x", choices=("generation", "wall_s"), default="generation", help="x axis (default generation)")
    c.add_argument("--generations", type=int, help="only each run's first N generations (runs compared at equal budget)")
    c.add_argument("--smooth", type=int, default=1, help="running mean over this many generations (default 1: none)")
    c.add_argument("--episodes", metavar="FIRST-LAST",
                   help="average only these episodes (windows) of each lifetime, 1-based, e.g. 4-8 for the "
                        "late windows the learning targets use (default: every episode)")
    c.add_argument("--blocks", type=int, metavar="N",
                   help="also print each run's mean in blocks of N generations, with its paired difference "
                        "to the first run (a markdown table per environment)")
    c.add_argument("--metric", metavar="NAME",
                   help="plot this number of each generation's metrics instead of the returns, one panel "
                        "(search_std, mean_fitness, best_fitness, ...)")
    c.add_argument("--log", action="store_true", help="--metric on a logarithmic axis (search_std spans decades)")
    sub.add_parser("envs", help="list registered environments and datasets")
    w = sub.add_parser("sweep", help="meta-test several runs on many environments (default: every registered "
                                     "one); each pair a result or a one-line refusal, one table")
    w.add_argument("runs", type=Path, nargs="+", help="run directories (e.g. pretrained/*)")
    w.add_argument("--env", action="append", help="environment (repeatable; default: every registered environment)")
    w.add_argument("--gymnax-only", action="store_true", help="leave out the brax environments (slow to compile)")
    w.add_argument("--lifetimes", type=int, default=4, help="fresh lifetimes per pair (default 4)")
    w.add_argument("--max-steps", type=int, help="episode cap for every pair (default: each environment's own)")
    w.add_argument("--out", type=Path, default=Path("runs/sweep"), help="output folder (default runs/sweep)")
    r = sub.add_parser("render", help="render one lifetime of a run's final genome in a brax environment (HTML + GIF)")
    r.add_argument("run_dir", type=Path)
    r.add_argument("--env", help="brax environment (default: the run's first brax environment)")
    r.add_argument("--seed", type=int, default=0, help="seed of the wiring and the environment (default 0)")
    return p


def _split_config_arg(config: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    """``sfnn train key=value`` (no file) is allowed: the first positional may be an override."""
    if config is not None and "=" in config and not Path(config).exists():
        return None, [config, *overrides]
    return config, overrides


def _join(cfg) -> bool:
    """Prepare JAX before anything starts its backend: expose the CPU devices ``parallel.devices``
    asks for, join a multi-process run. True on process 0 (or alone)."""
    from agents.devices import expose_cpu_devices, splittable_members
    from agents.processes import join_processes

    expose_cpu_devices(cfg.parallel.devices, splittable_members(cfg))
    join_processes(cfg)
    return cfg.parallel.process_id == 0


def cmd_train(args) -> int:
    from agents.config import ConfigError, load_config

    config, overrides = _split_config_arg(args.config, args.overrides)
    # the config loads twice: its types and parallel.* first, to join jax.distributed before anything
    # starts JAX's backend (agents.run imports evosax, which does); then in full
    if args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            return _fail("--out and --resume name different directories: give only --resume DIR")
        keep = ("strategy.generations", "log.", "parallel.")
        bad = [o for o in overrides if not o.split("=", 1)[0].startswith(keep)]
        if bad or config is not None and not Path(config).resolve().is_relative_to(args.resume.resolve()):
            return _fail("a resumed run keeps its saved config; only strategy.generations=N, log.* and parallel.* "
                         "may be overridden")
        try:
            saved = load_config(args.resume / "config.yaml", overrides, check=False)
        except ConfigError:
            saved = None  # missing or damaged: load_run_config below says so, naming the file
        primary = _join(saved) if saved is not None else True
    else:
        if config is None and not overrides:
            return _fail("give a config file, e.g. sfnn train configs/cartpole.yaml")
        primary = _join(load_config(config, overrides, check=False))
    from agents.run import Interrupted, train
    from agents.rundir import check_resumable, default_run_dir, load_run_config, prepare_new_run

    if args.resume is not None:
        cfg = load_run_config(args.resume, overrides)
        check_resumable(args.resume)
        run_dir = args.resume
        if overrides and primary:
            from agents.config import save_config

            save_config(cfg, run_dir / "config.yaml")
    else:
        cfg = load_config(config, overrides)
        run_dir = args.out or default_run_dir(cfg)
        from agents.trainer import population_devices

        from agents.family import family

        family(cfg).check(cfg, primary)  # fail on unreadable files or impossible combinations before creating anything
        population_devices(cfg)  # enough devices, and a population they divide
        if cfg.strategy.init_from is not None:
            from agents.trainer import start_genome_from

            start_genome_from(cfg)  # a warm start of the wrong model fails before anything is written
        if primary:
            prepare_new_run(cfg, run_dir)
    if not primary:  # computes its share of every generation; process 0 writes the run directory
        par = cfg.parallel
        print(f"process {par.process_id} of {par.processes}: evaluating its share of the population; "
              "process 0 writes the run directory", flush=True)
        try:
            train(cfg, run_dir, resume=args.resume is not None)
        except Interrupted as e:  # process 0 was interrupted and saved the checkpoint
            who = f"process {par.process_id} of {par.processes}"
            print(f"{who}: stopped with process 0 after generation {e.generation}", file=sys.stderr)
            return 130
        print(f"process {par.process_id} of {par.processes}: done")
        return 0
    print(f"run directory: {run_dir}")
    summary = train(cfg, run_dir, resume=args.resume is not None)
    assert summary is not None
    print(f"done in {summary['wall_s']:.0f} s; best generation fitness {summary['best_fitness']:.3f}")
    for env, s in summary.get("per_env", {}).items():
        where = "fresh lifetimes" if s["wiring"] == "fresh" else "lifetimes on the run's own wiring"
        print(f"{env}: final genome mean return per episode over "
              f"{summary['final_lifetimes']} {where}: {s['episode_returns_mean']}")
        print(f"{env}: same genome, learning off: {s['frozen_episode_returns_mean']}")
        if "fresh_wiring_episode_returns_mean" in s:
            print(f"{env}: same genome on fresh wirings: {s['fresh_wiring_episode_returns_mean']}")
    if "rendered_lifetime" in summary:
        r = summary["rendered_lifetime"]
        print(f"{r['env']}: rendered lifetime (seed 0): returns {r['episode_returns']}, "
              f"first body travelled {r['episode_travel_m']} m along x")
    for ds, s in summary.get("per_dataset", {}).items():
        print(f"{ds}: held-out accuracy after {summary['inner_steps']} steps on "
              f"{summary['final_tasks_per_dataset']} fresh tasks: {s['accuracy_after_T']:.3f} "
              f"(start genome {s['start_genome_accuracy_after_T']:.3f})")
    for name, path in summary["plots"].items():
        print(f"plot: {path}")
    return 0


def cmd_meta_test(args) -> int:
    import numpy as np

    from agents.metatest import meta_test
    from agents.sweep import late_spread

    if args.lifetimes < 1:
        return _fail("--lifetimes must be at least 1")
    hidden = None
    if args.hidden is not None:
        try:
            hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
        except ValueError:
            return _fail(f"--hidden {args.hidden!r}: give layer sizes as integers, e.g. 64 or 64,32")
    checkpoint = args.checkpoint
    if checkpoint not in (None, "newest"):
        if not checkpoint.isdigit():
            return _fail(f"--checkpoint {checkpoint!r}: give a checkpoint's step (a whole number), or nothing for the newest")
        checkpoint = int(checkpoint)
    doc = meta_test(args.run_dir, args.env, args.lifetimes, args.out, seed=args.seed, steps=args.steps, compare=args.compare,
                    hidden=hidden, hidden_neurons=args.hidden_neurons, max_steps=args.max_steps,
                    connect_prob=args.connect_prob,
                    episode_mode=args.episode_mode, episodes=args.episodes, checkpoint=checkpoint,
                    learn_windows=args.learn_windows)
    if checkpoint is not None:
        print(f"genome: {doc['genome']}")
    for env, r in doc["results"].items():
        if r["metric"] == "accuracy":
            n = len(r["x"]) - 1
            at = sorted({0, n // 10, n // 4, n // 2, n})
            print(f"{env}: mean validation accuracy after {at} inner steps")
        for agent, curves in r["agents"].items():
            if r["metric"] == "accuracy":
                print(f"{env} {agent:>15}: {np.round(np.mean(curves, 0)[at], 3).tolist()}")
            else:
                print(f"{env} {agent:>22}: mean return per episode {np.round(np.mean(curves, 0), 1).tolist()}")
                first, mean, q = late_spread(curves)
                print(f"{env} {'':>22}  episodes {first}-: mean {mean:.1f}; lifetimes' quartiles "
                      f"{q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f}")
        for agent, why in r.get("skipped", {}).items():
            print(f"{env} {agent:>22}: skipped ({why})")
        if r["plot"]:
            print(f"plot: {r['plot']}")
    return 0


def cmd_choose(args) -> int:
    from agents.choose import choose_checkpoint

    if args.lifetimes < 1:
        return _fail("--lifetimes must be at least 1")
    doc = choose_checkpoint(args.run_dir, args.lifetimes, args.seed, args.out, halving=args.halving)
    if args.halving:
        print(f"each checkpoint's genome scored as the final evaluation scores genomes, in {doc['rounds']} rounds of "
              f"{args.lifetimes} fresh lifetimes (seeds {args.seed}-{args.seed + doc['rounds'] - 1}), the better half going "
              f"on after each; the survivors of most rounds first, each ± its standard error:")
    else:
        print(f"each checkpoint's genome scored as the final evaluation scores genomes, on {args.lifetimes} fresh lifetimes "
              f"(seed {args.seed}), best first (± its standard error over them: checkpoints closer than about twice that "
              f"are not told apart; more --lifetimes narrow it, --halving at half the cost):")
    for r in doc["ranking"]:
        parts = r.get("late_return") or r.get("final_objective") or {}
        detail = ", ".join(f"{k} {v:.1f}" if "late_return" in r else f"{k} {v:.3f}" for k, v in parts.items())
        se = "" if r["fitness_se"] is None else f" ± {r['fitness_se']:.4f}"
        seen = f" [{r['lifetimes']} lifetimes]" if args.halving else ""
        print(f"  checkpoint {r['step']:>7}: {r['fitness']:.4f}{se}{seen}" + (f"  ({detail})" if detail else ""))
    for step, why in doc["unusable"].items():
        print(f"  checkpoint {step:>7}: unusable ({why})")
    step = doc["chosen"]
    print(f"chosen: checkpoint {step}; report it on other lifetimes with\n  sfnn meta-test {args.run_dir} --checkpoint {step} "
          f"--env ENV ...\nand make it a run's final genome (a copy of the run that ends there) with\n"
          f"  mkdir -p COPY/checkpoints && cp {args.run_dir}/config.yaml {args.run_dir}/metrics.jsonl COPY/ && "
          f"cp -r {args.run_dir}/checkpoints/{step} COPY/checkpoints/\n  sfnn train --resume COPY strategy.generations={step}")
    print(f"ranking: {args.out or args.run_dir / 'choose.json'}")
    return 0


def cmd_bench(args) -> int:
    from agents.config import load_config

    config, overrides = _split_config_arg(args.config, args.overrides)
    if args.sweep:
        if load_config(config, overrides, check=False).parallel.processes > 1:
            return _fail("--sweep runs every point as a process of its own; bench several processes one "
                         "setting at a time (benchmarks/weak_scaling.py starts them on one machine)")
        from agents.bench_sweep import markdown_table, parse_sweep, plot_path, sweep

        for spec in args.sweep:  # every point must be a valid config before any is run
            key, values = parse_sweep(spec)
            for v in values:
                load_config(config, [*overrides, f"{key}={v}"])
        rows = sweep(config, overrides, args.sweep, args.generations, args.out, args.point_timeout)
        print(markdown_table([r for rs in rows.values() for r in rs]), end="")
        print(f"table: {args.out / 'bench_sweep.md'}  rows: {args.out / 'bench_sweep.jsonl'}")
        for key in rows:
            print(f"plot: {plot_path(args.out, key)}")
        return 0
    # as in `sfnn train`: join the other processes (parallel.processes > 1) before JAX's backend starts
    primary = _join(load_config(config, overrides, check=False))
    cfg = load_config(config, overrides)
    from agents.bench import bench

    result = bench(cfg, args.generations)  # every process times the same generations
    if primary:
        print(json.dumps(result))
    else:
        print(f"process {cfg.parallel.process_id} of {cfg.parallel.processes}: done", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from agents.metatest import compare_label
    from agents.plots import block_table, compare_metric, compare_runs
    from agents.rundir import load_run_config, read_metrics

    for flag, value in (("--generations", args.generations), ("--smooth", args.smooth), ("--blocks", args.blocks)):
        if value is not None and value < 1:
            return _fail(f"{flag} {value}: must be at least 1")
    episodes = None
    if args.episodes is not None:
        m = re.fullmatch(r"(\d+)-(\d+)", args.episodes)
        if m is None or not 1 <= int(m[1]) <= int(m[2]):
            return _fail(f"--episodes {args.episodes}: expected FIRST-LAST with 1 <= FIRST <= LAST, e.g. 4-8")
        episodes = (int(m[1]), int(m[2]))
    runs = {}
    for run in args.runs:
        label = compare_label(load_run_config(run), run, runs)  # two folders of one name: their paths
        runs[label] = [m for m in read_metrics(run) if args.generations is None or m["generation"] < args.generations]
    if args.metric is None and args.log:
        return _fail("--log applies to --metric only (returns are plotted on a linear axis)")
    if args.metric is not None and (episodes is not None or args.blocks is not None):
        return _fail("--episodes and --blocks apply to the returns, not to --metric")
    try:
        if args.metric is not None:
            path, table = compare_metric(runs, args.out, args.metric, args.x, smooth=args.smooth, log=args.log), None
        else:
            path = compare_runs(runs, args.out, args.x, smooth=args.smooth, episodes=episodes)
            table = None if args.blocks is None else block_table(runs, args.blocks, episodes)
    except (ValueError, OSError) as e:
        return _fail(str(e))
    if table is not None:
        print(table + "\n")
    print(f"plot: {path}")
    return 0


def cmd_sweep(args) -> int:
    from agents.sweep import sweep
    from envs.registry import GYMNAX_CONTINUOUS, GYMNAX_DISCRETE, env_names

    if args.lifetimes < 1:
        return _fail("--lifetimes must be at least 1")
    envs = args.env or ([*GYMNAX_DISCRETE, *GYMNAX_CONTINUOUS] if args.gymnax_only else env_names())
    rows = sweep(args.runs, envs, args.lifetimes, args.out, max_steps=args.max_steps)
    done = sum("late_mean" in r for r in rows)
    print(f"{done} of {len(rows)} pairs meta-tested, {len(rows) - done} refused: {args.out / 'sweep.md'}")
    return 0


def cmd_envs(args) -> int:
    from envs import brax_env
    from envs.energy import ENERGIES
    from envs.registry import env_names, make_env

    print(f"{'name':<30}{'obs':>6}{'actions':>9}{'':<11}{'max steps':>10}  {'termination':<12}return range")
    estimated = "estimated from random play at train time"
    for name in env_names():
        if name.startswith("brax/"):  # sizes from a table: building a brax environment takes seconds
            short = name.removeprefix("brax/")
            (obs, act), cap = brax_env.BRAX_SIZES[short], brax_env.DEFAULT_MAX_STEPS
            rr, kind, ends = brax_env.return_range(short, cap), "continuous", "failure"
        else:
            e = make_env(name)
            obs, act, cap, rr, ends = e.obs_size, e.n_actions, e.max_steps, e.return_range, e.termination
            kind = "continuous" if e.continuous else "discrete"
        rng = estimated if rr is None else f"[{rr[0]:g}, {rr[1]:g}]"
        print(f"{name:<30}{obs:>6}{act:>9} {kind:<10}{cap:>10}  {ends:<12}{rng}")
    from agents.config import EITHER_KINDS, SUPERVISED_KINDS
    from envs.datasets import dataset_names, load_dataset

    print(f"\n{'dataset':<26}{'inputs':>8}{'classes':>9}{'examples':>10}  (model.kind {', '.join(SUPERVISED_KINDS + EITHER_KINDS)})")
    for name in dataset_names():
        d = load_dataset(name)
        print(f"{name:<26}{d.n_features:>8}{d.n_classes:>9}{len(d.y_train) + len(d.y_val):>10}")
    print("npz:/path/file.npz (arrays x, y) and idx:/path/images,/path/labels read your own files")
    print("termination: what an episode's early end means there; lifetime.terminal_reward is shown only after a failure")
    print(f"lifetime.energy_reward shows the mechanical energy of: {', '.join(ENERGIES)}")
    print("\nvariants: NAME:param=value,... changes environment parameters (e.g. CartPole-v1:gravity=20,length=1),"
          " NAME:perm=SEED permutes the observation, NAME:obs_norm=fixed scales it by random play's mean and s.d."
          " (that environment only; lifetime.obs_norm scales every environment of a run)")
    print(f"brax: brax/NAME:backend=B with B one of {', '.join(brax_env.BACKENDS)} (default {brax_env.DEFAULT_BACKEND}), "
          "reset=first|fresh, and the environment's numeric arguments (e.g. brax/hopper:ctrl_cost_weight=0.01); "
          "episode cap lifetime.max_steps (default 1000)")
    return 0


def cmd_render(args) -> int:
    from agents.rl.render import render_run

    out = render_run(args.run_dir, args.env, args.seed)
    print(f"episode returns in the rendered lifetime: {out['episode_returns']}")
    print(f"distance the first body (torso, cart) travelled along x per episode, m: {out['episode_travel_m']}")
    print(f"html: {out['html']}  (brax viewer; loads three.js from a CDN when opened)")
    print(f"gif: {out['gif']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # key=value overrides may also follow the options (`sfnn bench CFG --generations 2 a.b=1`)
        if extra and hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
            args.overrides = [*args.overrides, *extra]
        elif extra:
            return _fail(f"unrecognized arguments: {' '.join(extra)} (see sfnn {args.command} --help)")
    except SystemExit as e:
        return int(e.code or 0)
    handlers = {"train": cmd_train, "meta-test": cmd_meta_test, "choose": cmd_choose, "bench": cmd_bench,
                "compare": cmd_compare, "envs": cmd_envs, "render": cmd_render, "sweep": cmd_sweep}
    try:
        return handlers[args.command](args)
    except Exception as e:
        # imported only now: agents.run starts JAX's backend, which `sfnn train` may start only
        # after joining the other processes of a multi-process run
        from agents.checkpoint import CheckpointError
        from agents.config import ConfigError
        from agents.run import Interrupted
        from agents.rundir import RunError

        if isinstance(e, (ConfigError, RunError, CheckpointError)):
            return _fail(str(e))
        if isinstance(e, OSError):  # full disk, unwritable or vanished paths: checkpoints already written stay valid
            return _fail(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        if isinstance(e, MemoryError):
            return _fail("out of memory: reduce strategy.population, lifetime.lifetimes or the model size")
        if isinstance(e, Interrupted):
            print(str(e), file=sys.stderr)
            return 130
        raise
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
