"""Checkpoints with orbax: the ES state as arrays, and the run's bookkeeping as JSON.

The JSON part (generation, wall time, metrics so far, wandb id, resolved config) lets a run
be rebuilt and its ``metrics.jsonl`` rewritten exactly up to the checkpoint on resume.

Crash safety rests on orbax: a checkpoint is written into ``<step>.orbax-checkpoint-tmp``
and renamed to ``<step>`` only when complete, and steps are listed from finished names only,
so a write killed half-way is invisible (and its leftover is replaced by the next save of that
step). Corruption is caught by a sha256 of the state arrays and of the metadata, stored in the
metadata: ``restore_newest_good`` skips checkpoints that fail it and reports which.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

CHECKSUM_KEY = "sha256"


class CheckpointError(RuntimeError):
    """A missing or unreadable checkpoint; the message is one line meant for the user."""


def _quiet() -> None:
    for name in ("absl", "orbax", "orbax.checkpoint"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def manager(directory: Path, keep: int) -> ocp.CheckpointManager:
    """A manager used by this process alone: in a multi-process run only process 0 checkpoints,
    so orbax must not wait for the other processes at its barriers."""
    _quiet()
    extra: dict[str, Any] = {}
    if jax.process_count() > 1:  # orbax cannot create the directory for a subset of processes
        me = jax.process_index()
        extra["multiprocessing_options"] = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
        directory.mkdir(parents=True, exist_ok=True)
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not extra, enable_async_checkpointing=False, **extra)
    return ocp.CheckpointManager(directory.resolve(), options=opts, item_names=("state", "meta"))


def state_digest(state: Any) -> str:
    """sha256 over every array of ``state`` (dtype, shape and bytes, in tree order)."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(state):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def meta_digest(meta: dict[str, Any]) -> str:
    """sha256 of the metadata as canonical JSON, without the checksum entry itself."""
    body = {k: v for k, v in meta.items() if k != CHECKSUM_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save(mngr: ocp.CheckpointManager, generation: int, state: Any, meta: dict[str, Any]) -> None:
    """Save the ES state and run metadata as checkpoint number ``generation`` (generations done).

    The metadata gets the checksums that ``restore_newest_good`` verifies.
    """
    state = jax.tree.map(np.asarray, state)
    meta = {**meta, CHECKSUM_KEY: None}
    meta[CHECKSUM_KEY] = {"state": state_digest(state), "meta": meta_digest(meta)}
    mngr.save(
        generation,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        force=True,
    )
    mngr.wait_until_finished()


@dataclass
class Restored:
    """The checkpoint a run continues from, and the newer ones that were unusable (step: why)."""

    step: int
    state: Any
    meta: dict[str, Any]
    skipped: dict[int, str] = field(default_factory=dict)


def one_line(e: Exception) -> str:
    """``Type: first line`` of an exception, short enough for a one-line message."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:120]}" if text else type(e).__name__


CheckMeta = Callable[[int, dict[str, Any]], None]


def _load(mngr: ocp.CheckpointManager, step: int, abstract: Any, check_meta: CheckMeta | None) -> tuple[Any, dict[str, Any]]:
    """One checkpoint, verified; raises ``ValueError`` (or orbax's own error) when unusable."""
    meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    sums = meta.pop(CHECKSUM_KEY, None)  # checkpoints written before checksums existed have none
    if sums is not None and sums.get("meta") != meta_digest(meta):
        raise ValueError("metadata checksum mismatch")
    if check_meta is not None:
        check_meta(step, meta)  # raises CheckpointError: not a corruption, so no fallback
    state = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
    state = jax.tree.map(np.asarray, state)
    if sums is not None and sums.get("state") != state_digest(state):
        raise ValueError("state checksum mismatch")
    # uncommitted arrays, as a fresh run's are: a resumed run runs the very same compiled programs
    return jax.tree.map(jnp.asarray, state), meta


def restore_newest_good(
    mngr: ocp.CheckpointManager, template_state: Any, check_meta: CheckMeta | None = None
) -> Restored:
    """The newest checkpoint that reads back and matches its checksums, newest first.

    ``check_meta(step, meta)`` may raise ``CheckpointError`` to refuse a readable checkpoint
    outright (e.g. one made with another config). Nothing on disk is changed here.
    """
    steps = sorted(mngr.all_steps(), reverse=True)
    if not steps:
        raise CheckpointError(f"no checkpoint found in {mngr.directory}: nothing to resume")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template_state)
    skipped: dict[int, str] = {}
    for step in steps:
        try:
            state, meta = _load(mngr, step, abstract, check_meta)
        except CheckpointError:
            raise
        except Exception as e:  # orbax and tensorstore raise many types for unreadable data
            skipped[step] = one_line(e)
            continue
        return Restored(step, state, meta, skipped)
    newest = steps[0]
    raise CheckpointError(
        f"no usable checkpoint in {mngr.directory}: all {len(steps)} are unreadable or fail their checksum "
        f"(newest, {newest}: {skipped[newest]}); start a new run"
    )


def restore_step(mngr: ocp.CheckpointManager, template_state: Any, step: int) -> Restored:
    """Checkpoint ``step`` exactly, verified like ``restore_newest_good`` but with no fallback: one
    asked for by number (to choose a genome among a run's checkpoints) is that one or an error."""
    steps = sorted(mngr.all_steps())
    if step not in steps:
        kept = ", ".join(map(str, steps)) or "none"
        raise CheckpointError(f"no checkpoint {step} in {mngr.directory} (kept: {kept})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template_state)
    try:
        state, meta = _load(mngr, step, abstract, None)
    except Exception as e:  # orbax and tensorstore raise many types for unreadable data
        raise CheckpointError(f"checkpoint {step} in {mngr.directory} is unusable ({one_line(e)})") from None
    return Restored(step, state, meta)


def restore(mngr: ocp.CheckpointManager, template_state: Any) -> tuple[int, Any, dict[str, Any]]:
    """The newest usable checkpoint: (generations done, ES state shaped like the template, metadata)."""
    r = restore_newest_good(mngr, template_state)
    return r.step, r.state, r.meta


def set_aside(mngr: ocp.CheckpointManager, steps: list[int], dest: Path) -> list[Path]:
    """Move unusable checkpoints out of the manager's directory into ``dest`` (kept, never deleted).

    A resumed run saves those step numbers again, and orbax's ``max_to_keep`` would count them
    as checkpoints; moved aside they can neither be overwritten nor push out the good ones.
    """
    moved = []
    for step in steps:
        src = Path(mngr.directory) / str(step)
        if not src.is_dir():
            continue
        dest.mkdir(parents=True, exist_ok=True)
        target, n = dest / str(step), 1
        while target.exists():
            target, n = dest / f"{step}.{n}", n + 1
        src.rename(target)
        moved.append(target)
    mngr.reload()
    return moved
