"""Checkpoints with orbax: the ES state as arrays, and the run's bookkeeping as JSON.

The JSON part (generation, wall time, metrics so far, wandb id, resolved config) lets a run
be rebuilt and its ``metrics.jsonl`` rewritten exactly up to the checkpoint on resume.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A missing or unreadable checkpoint; the message is one line meant for the user."""


def _quiet() -> None:
    for name in ("absl", "orbax", "orbax.checkpoint"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def manager(directory: Path, keep: int) -> ocp.CheckpointManager:
    _quiet()
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory.resolve(), options=opts, item_names=("state", "meta"))


def save(mngr: ocp.CheckpointManager, generation: int, state: Any, meta: dict[str, Any]) -> None:
    """Save the ES state and run metadata as checkpoint number ``generation`` (generations done)."""
    state = jax.tree.map(np.asarray, state)
    mngr.save(
        generation,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        force=True,
    )
    mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, template_state: Any) -> tuple[int, Any, dict[str, Any]]:
    """The newest checkpoint: (generations done, ES state shaped like the template, metadata)."""
    step = mngr.latest_step()
    if step is None:
        raise CheckpointError(f"no checkpoint found in {mngr.directory}: nothing to resume")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template_state)
    try:
        out = mngr.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        )
    except Exception as e:  # orbax raises many types for unreadable data
        raise CheckpointError(f"checkpoint {step} in {mngr.directory} is unreadable ({type(e).__name__}): start a new run") from None
    return step, out["state"], out["meta"]
