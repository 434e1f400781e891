"""Datasets as tasks: shipped and synthetic sources, user files, validation, transformations."""

import gzip

import jax
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


def small():
    rng = np.random.default_rng(0)
    return D.make_dataset(rng.standard_normal((120, 5)), np.arange(120) % 4, "toy", seed=0)


def label_map(old_x, old_y, new_x, new_y):
    """Match rows by content (features are distinct) and return {old label: new label}."""
    where = {row.tobytes(): int(lab) for row, lab in zip(np.asarray(old_x), np.asarray(old_y))}
    mapping = {}
    for row, lab in zip(np.asarray(new_x), np.asarray(new_y)):
        old = where[row.tobytes()]
        assert mapping.setdefault(old, int(lab)) == int(lab), "a class was split"
    return mapping


def test_class_subset():
    ds = small()
    sub = D.class_subset(jax.random.PRNGKey(0), ds, 2)
    assert sub.n_classes == 2
    for old_x, old_y, new_x, new_y in [
        (ds.x_train, ds.y_train, sub.x_train, sub.y_train),
        (ds.x_val, ds.y_val, sub.x_val, sub.y_val),
    ]:
        mapping = label_map(old_x, old_y, new_x, new_y)
        assert sorted(mapping.values()) == [0, 1]
        keep = np.isin(
            np.asarray(old_y), list(mapping)
        )  # every row of the chosen classes, in order
        np.testing.assert_array_equal(np.asarray(old_x)[keep], new_x)
    np.testing.assert_array_equal(D.class_subset(jax.random.PRNGKey(0), ds, 2).y_val, sub.y_val)
    with pytest.raises(DatasetError, match="cannot pick 5 of 4"):
        D.class_subset(jax.random.PRNGKey(0), ds, 5)


def test_permute_labels_is_a_consistent_bijection():
    ds = small()
    maps = []
    for seed in range(3):
        perm = D.permute_labels(jax.random.PRNGKey(seed), ds)
        np.testing.assert_array_equal(perm.x_train, ds.x_train)
        mapping = label_map(ds.x_train, ds.y_train, perm.x_train, perm.y_train)
        assert mapping == label_map(ds.x_val, ds.y_val, perm.x_val, perm.y_val)
        assert sorted(mapping.values()) == list(range(4))
        maps.append(mapping)
    assert any(m != {i: i for i in range(4)} for m in maps)


def test_project_inputs_is_one_linear_map():
    base = small()
    eye = D.Dataset(jnp.eye(5), jnp.arange(5) % 2, base.x_val, base.y_val, 2, "eye")
    proj = D.project_inputs(jax.random.PRNGKey(3), eye, 9)
    assert proj.x_train.shape == (5, 9) and proj.x_val.shape == (base.x_val.shape[0], 9)
    # x_train = I, so its projection is the matrix itself; val used the same matrix
    np.testing.assert_allclose(proj.x_val, base.x_val @ proj.x_train, rtol=1e-5, atol=1e-5)
    again = D.project_inputs(jax.random.PRNGKey(3), eye, 9)
    np.testing.assert_array_equal(again.x_train, proj.x_train)


def test_sample_batches():
    ds = small()
    xs, ys = D.sample_batches(jax.random.PRNGKey(0), ds.x_train, ds.y_train, steps=7, batch_size=5)
    assert xs.shape == (7, 5, 5) and ys.shape == (7, 5)
