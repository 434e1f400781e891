"""Starting a wandb run the way every command of this package does.

Training and meta-testing both open wandb runs; they share the settings that are not about
the run itself, so that the two cannot drift apart (as they once did over the Weave advert).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agents.config import TrainConfig


def start_wandb(cfg: TrainConfig, where: Path, **run: Any) -> Any:
    """``wandb.init`` in the config's project and mode (``log.project``, ``log.wandb``), its files
    under ``where``, quiet on the console (the progress bar owns it); ``run`` holds the rest of
    ``wandb.init``'s arguments (name, config, id, job_type ...). Raises what wandb raises, so that
    each caller decides how a failure degrades."""
    import wandb

    # wandb takes this package's name, `agents`, for the OpenAI Agents SDK and advertises its
    # LLM-tracing tool on every run; a user's own setting wins
    os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
    return wandb.init(
        project=cfg.log.project, mode=cfg.log.wandb, dir=str(where),
        settings=wandb.Settings(silent=True, console="off"), **run,
    )  # fmt: skip
