"""Which CPU a run is on, and the evaluation layout chosen for its vector ISA.

The same program runs 2-4× apart across CPUs (AVX-512, AVX2, 128-bit SSE or NEON), so the
layout of a population's evaluation is picked from what XLA may use here, not from a flag the
user must know: ``lanes`` (float32 lanes of one vector: a lifetime batch is padded to a multiple
of it, and to at least ``MIN_BATCH`` lifetimes, so that no loop runs as scalar code) and
``chunk`` (members evaluated at once on a CPU device). ``parallel.lanes`` and ``parallel.chunk``
override both. Neither changes a result: lifetimes never interact, and a member's score depends
only on its index (tests/test_parallel.py). The table's figures: docs/PERFORMANCE.md,
"Layouts per ISA".
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from typing import Any

ISA_ORDER = ("SSE4_2", "AVX", "AVX2", "AVX512")  # XLA's --xla_cpu_max_isa names, narrowest first


def cpu_info(cpuinfo: str | None = None, xla_flags: str | None = None) -> dict[str, Any]:
    """``cpu``: the host CPU's model name; ``cpu_isa``: the widest x86 vector ISA it has (AVX512,
    AVX2, AVX, SSE4_2; on other machines its architecture, e.g. aarch64); ``xla_max_isa``: a cap
    set by ``--xla_cpu_max_isa`` in XLA_FLAGS (null if none); ``vector_isa``: what XLA may use."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    name = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    isa = next((i for i, f in (("AVX512", "avx512f"), ("AVX2", "avx2"), ("AVX", "avx"), ("SSE4_2", "sse4_2"))
                if f in flags), platform.machine() or "unknown")  # fmt: skip
    cap = re.search(r"--xla_cpu_max_isa=(\w+)", os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags)
    cap_isa = cap.group(1).upper() if cap else None
    effective = isa
    if cap_isa in ISA_ORDER and isa in ISA_ORDER and ISA_ORDER.index(cap_isa) < ISA_ORDER.index(isa):
        effective = cap_isa
    return {"cpu": name.group(1).strip() if name else (platform.processor() or platform.machine()),
            "cpu_isa": isa, "xla_max_isa": cap_isa, "vector_isa": effective}


@dataclass(frozen=True)
class CpuLayout:
    """How a CPU device evaluates a population: ``lanes`` float32 lanes per vector (lifetime
    batches padded to a multiple), ``chunk`` members at a time (a chunk's working set in cache)."""

    lanes: int
    chunk: int


# by the vector ISA XLA may use; anything else (ARM's 128-bit NEON, unknown machines) as SSE4_2.
# Chunks of 32 members instead of 64 ran 15-28% slower on AVX-512; under AVX2 and SSE4_2 the two
# were within the machine's noise (10 pairs), so every ISA keeps 64.
LAYOUTS = {
    "AVX512": CpuLayout(lanes=16, chunk=64),
    "AVX2": CpuLayout(lanes=8, chunk=64),
    "AVX": CpuLayout(lanes=8, chunk=64),
    "SSE4_2": CpuLayout(lanes=4, chunk=64),
}
# A loop over fewer than 16 lifetimes runs as scalar code on every ISA measured (LLVM's vector
# body is 16 float32 wide: 8 AVX2 lanes or 4 SSE lanes, unrolled 2-4 times): 8 lifetimes padded
# to 16 ran 2.3-2.6x faster under AVX2 and 1.5x under SSE4_2 than 8 alone, while 40 unpadded ran
# 1.15-1.35x faster than 40 padded to 48.
MIN_BATCH = 16
ACCELERATOR_LANES = 16  # GPU/TPU: the padding the evaluation always had there (results unchanged)


def padded_batch(b: int, lanes: int) -> int:
    """Lifetimes a batch of ``b`` runs as: a multiple of ``lanes``, and at least ``MIN_BATCH``."""
    return max(-(-b // lanes) * lanes, MIN_BATCH)


def cpu_layout(vector_isa: str | None = None) -> CpuLayout:
    """The layout for ``vector_isa`` (default: what XLA may use on this CPU, caps included)."""
    isa = cpu_info()["vector_isa"] if vector_isa is None else vector_isa
    return LAYOUTS.get(isa, LAYOUTS["SSE4_2"])
