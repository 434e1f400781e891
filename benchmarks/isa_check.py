"""Does ``--xla_cpu_max_isa`` change the code XLA generates for our model? Count the vector types.

Timing a run under ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` on an AVX-512 machine stands in for an
AVX2 machine only if the cap reaches the generated code. This compiles one small generation of a
config (``sfnn bench ... --generations 1`` at population 8) under each cap with XLA's dumps on,
and counts the LLVM vector types in the optimised IR of every kernel: ``<16 x float>`` is a
512-bit vector, ``<8 x float>`` 256-bit, ``<4 x float>`` 128-bit. It prints one JSON line per cap.

    .venv/bin/python benchmarks/isa_check.py                 # configs/bench_paper.yaml
    .venv/bin/python benchmarks/isa_check.py configs/default.yaml

The IR shows vector width; it does not show instruction selection (EVEX encodings, 32 vector
registers, masked operations), which the backend chooses from the same cap. The timing under
each cap (``sfnn bench``, ``benchmarks/authors/side_by_side.py --xla-max-isa``) shows both.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTHS = {"512": r"<16 x float>", "256": r"<8 x float>", "128": r"<4 x float>"}


def count(dump_dir: str) -> dict[str, int]:
    text = "".join(open(p).read() for p in glob.glob(os.path.join(dump_dir, "*ir-with-opt.ll")))
    return {bits: len(re.findall(re.escape(pattern), text)) for bits, pattern in WIDTHS.items()}


def main() -> None:
    config = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "configs", "bench_paper.yaml")
    sfnn = os.path.join(ROOT, ".venv", "bin", "sfnn")
    for cap in (None, "AVX2", "SSE4_2"):
        with tempfile.TemporaryDirectory() as dump:
            flags = f"--xla_dump_to={dump}" + (f" --xla_cpu_max_isa={cap}" if cap else "")
            env = {**os.environ, "XLA_FLAGS": flags}
            out = subprocess.run([sfnn, "bench", config, "strategy.population=8", "--generations", "1"],
                                 env=env, capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                sys.exit(out.stderr[-2000:])
            bench = json.loads(out.stdout.strip().splitlines()[-1])
            widths = count(dump)
        print(json.dumps({"xla_max_isa": cap, "vector_isa": bench.get("vector_isa"), "cpu": bench.get("cpu"),
                          "float_vector_types_in_optimised_ir": {f"{b}-bit": n for b, n in widths.items()}}))


if __name__ == "__main__":
    main()
