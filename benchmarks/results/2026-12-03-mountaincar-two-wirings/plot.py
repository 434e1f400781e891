"""docs/img/mountaincar_two_wirings.png from the meta-tests in this folder: the starting genome
(observations scaled by random play, one wiring a generation) and the genomes carried on with two
shared wirings a generation, on the same 128 fresh lifetimes (meta-test seed 20000). Run from the
repository root."""

import json
from pathlib import Path

import numpy as np

from agents.plots import lifetime_curves

HERE = Path(__file__).parent
MT = {
    "start: 1,500 gens, one wiring a generation": HERE / "start_genome_meta_test_128.json",
    "+600 gens, two wirings a generation": HERE / "mc_obsfixed_l2_600" / "meta_test_128.json",
}
MT.update({f"+{d.name.rsplit('_', 1)[1]} gens, two wirings a generation": d / "meta_test_128.json"
           for d in sorted(HERE.glob("mc_obsfixed_l2_[0-9]*")) if not d.name.endswith("_600")})


def agents(path: Path) -> dict:
    return json.loads(path.read_text())["results"]["MountainCar-v0"]["agents"]


curves = {name: np.asarray(agents(p)["evolved"]) for name, p in MT.items() if p.is_file()}
curves["learning off (each genome)"] = np.asarray(agents(MT["+600 gens, two wirings a generation"])["frozen"])
for name, c in curves.items():
    late = c[:, 3:].mean(1)
    print(f"{name}: windows 4-8 {late.mean():.1f}; lifetimes' quartiles {np.percentile(late, [25, 50, 75]).round(1)}")
print(lifetime_curves(curves, Path("docs/img/mountaincar_two_wirings.png"), "MountainCar-v0: final genomes on 128 fresh wirings"))
