"""Atomic file writes: a file is written next to its destination and renamed over it, so a
crash or a full disk leaves either the old file or the new one, never a torn one."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, doc: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(doc, indent=indent))


def savez_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` (plain arrays only, readable without pickle), written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())
