"""Group the traced events of profile_lifetime.py's outputs: the per-edge GRU update's fusions
(XLA names them broadcast_multiply_fusion*), every other kernel (thunk), and the time between
kernels (the thunk runtime's dispatch: wall time of the program less its kernels)."""
import re
import sys

CONTAINERS = ("ThunkExecutor", "while", "PjitFunction", "CommonPjRt", "end:", "conditional", "call")
for f in sys.argv[1:]:
    rows = re.findall(r"^\s+([\d.]+) ms\s+(\d+)\s+(\S.*)$", open(f).read(), re.M)
    wall = sum(float(ms) for ms, _, name in rows if name.startswith("ThunkExecutor::Execute (wait"))
    kernels = [(float(ms), int(n), name) for ms, n, name in rows if not name.startswith(CONTAINERS)]
    gru = sum(ms for ms, _, name in kernels if name.startswith("broadcast_multiply_fusion"))
    other = sum(ms for ms, _, _ in kernels) - gru
    calls = sum(n for _, n, _ in kernels)
    print(f"{f}: wall {wall:7.1f} ms | GRU fusions {gru:7.1f} ({gru / wall:.0%}) | other kernels {other:6.1f} "
          f"({other / wall:.0%}) | between kernels {wall - gru - other:6.1f} ({(wall - gru - other) / wall:.0%}) "
          f"| {calls} kernel calls")
