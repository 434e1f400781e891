"""Datasets: shipped and synthetic sources, user files, validation (tasks made from them: test_blur_meta.py)."""

import gzip

import jax.numpy as jnp
import numpy as np
import pytest

from envs import datasets as D
from envs.datasets import DatasetError

SKLEARN_SIZES = {  # name: (examples, features, classes)
    "sklearn:digits": (1797, 64, 10),
    "sklearn:iris": (150, 4, 3),
    "sklearn:wine": (178, 13, 3),
    "sklearn:breast_cancer": (569, 30, 2),
}


@pytest.mark.parametrize("name", sorted(SKLEARN_SIZES))
def test_sklearn_datasets_sizes_split_and_standardisation(name):
    n, d, c = SKLEARN_SIZES[name]
    ds = D.load_dataset(name, seed=0)
    assert ds.name == name and ds.n_classes == c and ds.n_features == d
    assert ds.x_val.shape == (round(0.2 * n), d) and ds.x_train.shape == (n - round(0.2 * n), d)
    assert ds.x_train.dtype == jnp.float32 and ds.y_train.dtype == jnp.int32
    assert set(np.unique(ds.y_train)) <= set(range(c))
    assert np.abs(np.asarray(ds.x_train).mean(0)).max() < 1e-4
    std = np.asarray(ds.x_train).std(0)
    assert np.all((np.abs(std - 1) < 1e-3) | (std < 1e-6))  # constant features stay at 0
    again, other = D.load_dataset(name, seed=0), D.load_dataset(name, seed=1)
    np.testing.assert_array_equal(ds.x_val, again.x_val)
    np.testing.assert_array_equal(ds.y_train, again.y_train)
    assert not np.array_equal(ds.y_train, other.y_train)


@pytest.mark.parametrize(
    "name", ["synthetic:linear", "synthetic:nonlinear", "synthetic:classification"]
)
def test_synthetic_datasets(name):
    ds = D.load_dataset(name, seed=3)
    assert ds.n_classes >= 2 and len(ds.x_train) + len(ds.x_val) == 1000
    np.testing.assert_array_equal(ds.x_train, D.load_dataset(name, seed=3).x_train)
    assert not np.array_equal(ds.x_train, D.load_dataset(name, seed=4).x_train)


def test_registry():
    names = D.dataset_names()
    assert set(SKLEARN_SIZES) <= set(names) and "synthetic:nonlinear" in names
    with pytest.raises(DatasetError, match="unknown dataset"):
        D.load_dataset("sklearn:mnist")


def test_npz_file_loads(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.random((50, 6, 6)), y=np.repeat([3, 5, 9], [20, 20, 10]))
    ds = D.load_dataset(f"npz:{path}", seed=0)
    assert ds.n_features == 36 and ds.n_classes == 3 and len(ds.y_train) == 40
    assert set(np.unique(ds.y_val)) <= {0, 1, 2}


def write_idx(path, array, code, opener=open):
    with opener(path, "wb") as fh:
        fh.write(bytes([0, 0, code, array.ndim]))
        fh.write(np.asarray(array.shape, ">u4").tobytes())
        fh.write(array.tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load(tmp_path, gz):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 4, 5), dtype=np.uint8)
    labels = rng.integers(0, 10, 30).astype(np.uint8)
    suffix, opener = (".gz", gzip.open) if gz else ("", open)
    img, lbl = tmp_path / f"img-idx3-ubyte{suffix}", tmp_path / f"lbl-idx1-ubyte{suffix}"
    write_idx(img, images, 0x08, opener)
    write_idx(lbl, labels, 0x08, opener)
    x, y = D.load_idx(str(img), str(lbl))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    ds = D.load_dataset(f"idx:{img},{lbl}", seed=0)
    assert ds.n_features == 20 and len(ds.y_train) + len(ds.y_val) == 30


def test_idx_multibyte_and_corrupt(tmp_path):
    values = np.arange(12, dtype=">f4").reshape(3, 4)
    write_idx(tmp_path / "f.idx", values, 0x0D)
    np.testing.assert_array_equal(D.read_idx(str(tmp_path / "f.idx")), values)
    (tmp_path / "short.idx").write_bytes((tmp_path / "f.idx").read_bytes()[:-3])
    with pytest.raises(DatasetError, match="truncated"):
        D.read_idx(str(tmp_path / "short.idx"))
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DatasetError, match="magic"):
        D.read_idx(str(tmp_path / "bad.idx"))


def test_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        D.load_dataset(f"npz:{tmp_path}/nope.npz")
    with pytest.raises(DatasetError, match="file not found"):
        D.load_dataset(f"idx:{tmp_path}/a,{tmp_path}/b")


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.zeros(10), np.zeros(10, int), "x must have shape"),
        (np.zeros((10, 3)), np.zeros((10, 2), int), "y must be 1-D"),
        (np.zeros((10, 3)), np.zeros(9, int), "10 examples but y has 9"),
        (np.where(np.eye(10, 3) > 0, np.nan, 1.0), np.arange(10) % 2, "NaN or infinite"),
        (np.full((10, 3), np.inf), np.arange(10) % 2, "NaN or infinite"),
        (np.zeros((10, 3)), np.linspace(0, 1, 10), "integer class indices"),
        (np.zeros((10, 3)), np.zeros(10, int), "single class"),
    ],
)
def test_bad_arrays_in_npz(tmp_path, x, y, match):
    path = tmp_path / "bad.npz"
    np.savez(path, x=x, y=y)
    with pytest.raises(DatasetError, match=match) as info:
        D.load_dataset(f"npz:{path}")
    assert "\n" not in str(info.value)


def test_npz_object_array_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="object"):
        D.load_dataset(f"npz:{path}")


def test_npz_missing_key_and_not_a_zip(tmp_path):
    np.savez(tmp_path / "k.npz", images=np.zeros((4, 2)), y=np.arange(4))
    with pytest.raises(DatasetError, match="no array named x"):
        D.load_npz(str(tmp_path / "k.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="not an .npz"):
        D.load_npz(str(tmp_path / "junk.npz"))
