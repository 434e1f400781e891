"""Where the worse-half fitness moved Acrobot's lifetimes: the final genome against the control
(the same start, seed and 400 generations with fitness.worst_fraction=1.0), each on the same three
sets of 128 fresh lifetimes; windows 4-8 of each lifetime, sorted, split into quarters and halves.

    python benchmarks/results/2026-12-04-acrobot-worst-half/lifetimes.py
"""

import gzip
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
CONTROL = HERE.parent / "2026-12-03-acrobot-two-wirings" / "acrobot_l4_from_739"
SETS = {
    "mean of 4 lifetimes (control)": [CONTROL / f for f in
                                      ("meta_test_128.json", "meta_test_128_seed30000.json", "meta_test_128_seed40000.json")],
    "mean of the worse 2 of 4": [HERE / f"meta_test_128_seed{s}.json.gz" for s in (20000, 30000, 40000)],
}


def late_means(path: Path) -> np.ndarray:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    evolved = np.asarray(json.loads(text)["results"]["Acrobot-v1"]["agents"]["evolved"])  # (lifetimes, windows)
    return np.sort(evolved[:, 3:8].mean(1))


print("fitness | seed | windows 4-8 | worst quarter | worse half | better half | lifetimes >= -100")
for name, paths in SETS.items():
    for seed, path in zip((20000, 30000, 40000), paths):
        s = late_means(path)
        n = len(s)
        print(f"{name} | {seed} | {s.mean():.1f} | {s[: n // 4].mean():.1f} | {s[: n // 2].mean():.1f} | "
              f"{s[n // 2 :].mean():.1f} | {(s >= -100).sum()} of {n}")
