"""The configuration reference cannot drift from agents/config.py, and the docs the README links exist."""

import dataclasses
import re
import typing
from typing import Any, Iterator

from agents.config import TrainConfig
from conftest import ROOT

CONFIG_MD = ROOT / "docs" / "CONFIG.md"


def config_fields(cls: type = TrainConfig, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, default) of every leaf field, walking the nested dataclasses."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from config_fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory()


def as_yaml(value: Any) -> str:
    """A default as CONFIG.md writes it (YAML's spelling)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(as_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {as_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def documented() -> dict[str, str]:
    """Field -> default, from the reference's table rows ``| `field` | `default` | meaning |``."""
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]*)` \|", CONFIG_MD.read_text(), flags=re.M)
    return dict(rows)


def test_every_config_field_is_in_the_reference_with_its_default():
    docs = documented()
    fields = dict(config_fields())
    assert len(fields) > 50  # the walk reached the nested sections
    missing = sorted(set(fields) - set(docs))
    assert not missing, f"docs/CONFIG.md lacks a row for {missing}"
    wrong = {k: (docs[k], as_yaml(v)) for k, v in fields.items() if docs[k] != as_yaml(v)}
    assert not wrong, f"docs/CONFIG.md shows other defaults than agents/config.py (docs, code): {wrong}"


def test_the_reference_documents_no_field_that_does_not_exist():
    stale = sorted(set(documented()) - dict(config_fields()).keys())
    assert not stale, f"docs/CONFIG.md documents fields agents/config.py does not have: {stale}"


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?:docs|notebooks)/[^)#\s]+)", readme)
    for name in ("docs/CONFIG.md", "docs/EXTENDING.md", "docs/TROUBLESHOOTING.md", "notebooks/quickstart.ipynb",
                 "notebooks/inside_a_lifetime.ipynb", "notebooks/blur.ipynb"):
        assert name in links, f"README does not link {name}"
    for link in links:
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"


def test_every_shipped_config_loads_and_validates():
    """A config in configs/ that no longer parses (a renamed field, a removed choice) fails here,
    not in a user's first command."""
    from agents.config import load_config
    from agents.trainer import start_genome_from

    paths = sorted((ROOT / "configs").glob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        cfg = load_config(path)
        if cfg.strategy.init_from is not None:  # a warm start names a genome shipped for this very model
            start_genome_from(cfg)
