"""Supervised datasets as tasks for learners that learn within their lifetime (e.g. BLUR).

Why: meta-training needs many small classification tasks and meta-testing needs tasks never
seen before, all offline. Sources are scikit-learn's shipped datasets, synthetic teachers
(a fresh task per seed), and the user's own MNIST-style files (``.npz`` or IDX). Every source
goes through one validated path: flatten inputs, relabel classes to 0..C−1, split train/val
with a seeded permutation, standardise with training-split statistics, return jnp arrays.
Tasks are made from these datasets (class subsets, label permutations, random projections)
by ``agents.supervised.tasks.sample_task``, inside the jitted generation.

Names: ``sklearn:{digits,iris,wine,breast_cancer}``, ``synthetic:{linear,nonlinear,
classification}``, ``npz:/path/file.npz`` (arrays ``x`` and ``y``) and
``idx:/path/images-idx3-ubyte,/path/labels-idx1-ubyte`` (optionally ``.gz``).
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """One classification task: standardised float32 inputs, int32 labels in 0..n_classes−1."""

    x_train: jax.Array
    y_train: jax.Array
    x_val: jax.Array
    y_val: jax.Array
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


# ---------------------------------------------------------------- building and validation


def make_dataset(
    x: np.ndarray, y: np.ndarray, name: str, seed: int = 0, val_fraction: float = 0.2
) -> Dataset:
    """Validate, relabel, split (seeded) and standardise (training statistics) raw arrays."""
    x, y = validate(x, y, name)
    classes, y = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DatasetError(
            f"{name}: labels hold a single class; a classification task needs at least 2"
        )
    n_val = int(round(len(y) * val_fraction))
    if not 0 < n_val < len(y):
        raise DatasetError(
            f"{name}: {len(y)} examples cannot be split with val_fraction={val_fraction}; "
            "give more examples or a fraction in (0, 1)"
        )
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = order[:n_val], order[n_val:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = np.where(std > 1e-8, std, 1.0)  # constant features (e.g. digits' borders) stay 0
    z = ((x - mean) / std).astype(np.float32)
    return Dataset(
        x_train=jnp.asarray(z[train]),
        y_train=jnp.asarray(y[train], jnp.int32),
        x_val=jnp.asarray(z[val]),
        y_val=jnp.asarray(y[val], jnp.int32),
        n_classes=len(classes),
        name=name,
    )


def validate(x: np.ndarray, y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, dtypes and values; return x flattened to (n, features) float64 and int64 y."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype == object or y.dtype == object:
        raise DatasetError(
            f"{source}: x and y must be numeric arrays, not object arrays; "
            "save them with a numeric dtype"
        )
    if x.ndim < 2:
        raise DatasetError(
            f"{source}: x must have shape (examples, features...) but has shape {x.shape}; "
            "add a feature axis, e.g. x[:, None]"
        )
    if y.ndim != 1:
        raise DatasetError(
            f"{source}: y must be 1-D (one label per example) but has shape {y.shape}; "
            "store class indices, not one-hot rows"
        )
    if len(x) != len(y):
        raise DatasetError(
            f"{source}: x has {len(x)} examples but y has {len(y)}; give one label per example"
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise DatasetError(f"{source}: x has dtype {x.dtype}; store real numbers")
    x = x.reshape(len(x), -1).astype(np.float64)
    if not np.isfinite(x).all():
        raise DatasetError(f"{source}: x contains NaN or infinite values; remove or impute them")
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        return x, y.astype(np.int64)
    if (
        not np.issubdtype(y.dtype, np.floating)
        or not np.isfinite(y).all()
        or (y != np.round(y)).any()
    ):
        raise DatasetError(
            f"{source}: labels must be integer class indices (y has dtype {y.dtype} with "
            "non-integer values); map them to 0..C-1"
        )
    return x, y.astype(np.int64)


# ---------------------------------------------------------------------------- user files


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` and ``y`` from a ``.npz`` file; pickled (object) arrays are refused."""
    _require_file(path, "an .npz file with arrays x and y")
    if not zipfile.is_zipfile(path):
        raise DatasetError(
            f"{path}: not an .npz (zip) archive; write it with np.savez(path, x=..., y=...)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x", "y") if k not in data.files]
            if missing:
                raise DatasetError(
                    f"{path}: no array named {' or '.join(missing)} (found {data.files}); "
                    "save with np.savez(path, x=..., y=...)"
                )
            return data["x"], data["y"]
    except DatasetError:
        raise
    except ValueError as e:  # numpy refuses object arrays when allow_pickle=False
        raise DatasetError(
            f"{path}: holds an object (pickled) array, which is not loaded for safety; "
            "save numeric arrays x and y"
        ) from e
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(
            f"{path}: unreadable .npz file ({e}); write it again with np.savez(path, x=..., y=...)"
        ) from e


_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """One IDX file (MNIST format: 0, 0, dtype code, ndim, big-endian uint32 dims, data)."""
    _require_file(path, "an IDX file (e.g. train-images-idx3-ubyte)")
    opener: Callable = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise DatasetError(
            f"{path}: cannot be read ({e}); give an IDX file, optionally gzipped"
        ) from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DatasetError(
            f"{path}: not an IDX file (bad magic number); give MNIST-style idx files"
        )
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    if len(raw) < 4 + 4 * ndim:
        raise DatasetError(
            f"{path}: IDX header is truncated; the file is incomplete, download or write it again"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(
            f"{path}: IDX header says shape {dims} ({expected} bytes) but the file has "
            f"{len(raw)} bytes; the file is truncated or corrupt, write it again"
        )
    return (
        np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims).astype(dtype.newbyteorder("="))
    )


def load_idx(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from a pair of IDX files."""
    return read_idx(images_path), read_idx(labels_path)


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise DatasetError(f"file not found: {path}; give the path of {what}")


# ------------------------------------------------------------------------------- sources


def _sklearn(loader_name: str) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    def load(seed: int) -> tuple[np.ndarray, np.ndarray]:
        import sklearn.datasets  # shipped with the package: no download

        data = getattr(sklearn.datasets, loader_name)()
        return data.data, data.target

    return load


def synthetic_linear(
    seed: int, n: int = 1000, d: int = 16, n_classes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs labelled by argmax of a random linear teacher (a new task per seed)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, np.argmax(x @ rng.standard_normal((d, n_classes)), -1)


def synthetic_nonlinear(
    seed: int, n: int = 1000, d: int = 16, n_classes: int = 4, hidden: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs labelled by argmax of a random one-hidden-layer tanh teacher."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    h = np.tanh(x @ rng.standard_normal((d, hidden)) * 2.0 / np.sqrt(d))
    return x, np.argmax(h @ rng.standard_normal((hidden, n_classes)), -1)


def synthetic_classification(
    seed: int, n: int = 1000, d: int = 20, n_classes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``make_classification`` (Gaussian clusters on a hypercube's vertices)."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=n,
        n_features=d,
        n_informative=min(d, 10),
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )


SOURCES: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray]]] = {
    "sklearn:digits": _sklearn("load_digits"),
    "sklearn:iris": _sklearn("load_iris"),
    "sklearn:wine": _sklearn("load_wine"),
    "sklearn:breast_cancer": _sklearn("load_breast_cancer"),
    "synthetic:linear": synthetic_linear,
    "synthetic:nonlinear": synthetic_nonlinear,
    "synthetic:classification": synthetic_classification,
}


def dataset_names() -> list[str]:
    """Registered dataset names; user files are reached as ``npz:PATH``, ``idx:IMAGES,LABELS``."""
    return list(SOURCES)


def load_dataset(name: str, seed: int = 0, val_fraction: float = 0.2) -> Dataset:
    """Load a dataset by name; ``seed`` fixes the split (and, for synthetic tasks, the teacher)."""
    if name in SOURCES:
        x, y = SOURCES[name](seed)
    elif name.startswith("npz:"):
        x, y = load_npz(name[4:])
    elif name.startswith("idx:"):
        paths = name[4:].split(",")
        if len(paths) != 2:
            raise DatasetError(f"{name!r}: give two comma-separated paths, idx:IMAGES,LABELS")
        x, y = load_idx(*paths)
    else:
        raise DatasetError(
            f"unknown dataset {name!r}; use one of {', '.join(dataset_names())}, "
            "npz:/path/file.npz or idx:/path/images,/path/labels"
        )
    return make_dataset(x, y, name, seed, val_fraction)
