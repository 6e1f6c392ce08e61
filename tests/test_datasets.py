"""IDX reading (sk_softmax.datasets) on files written here, plain and gzip-compressed."""

import gzip

import numpy as np
import pytest

from sk_softmax.datasets import iter_mnist_chunks, load_mnist, read_idx

_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def write_idx(path, array, compress=False):
    """Write ``array`` in the IDX layout, independently of the reader under test."""
    array = np.asarray(array)
    header = bytes([0, 0, _CODES[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((4, 3, 5)) * 50).astype(dtype)
    name = "a.idx.gz" if compress else "a.idx"
    write_idx(tmp_path / name, array, compress)
    out = read_idx(tmp_path / name)
    np.testing.assert_array_equal(out, array)
    assert out.dtype.isnative and out.shape == (4, 3, 5)
    if compress:  # the ".gz" name is found from the plain one
        np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)


def test_read_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.arange(10, dtype=np.uint8))
    data = (tmp_path / "short").read_bytes()
    (tmp_path / "short").write_bytes(data[:-3])
    with pytest.raises(ValueError, match="expected 10 values"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")


def fake_mnist(tmp_path, n=23, n_test=7):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:n_test])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:n_test])
    return images, labels


def test_load_mnist_and_chunks_agree(tmp_path):
    images, labels = fake_mnist(tmp_path)
    X, y = load_mnist(tmp_path, "train")
    assert X.shape == (23, 784) and X.dtype == np.float64
    np.testing.assert_allclose(X, images.reshape(23, -1) / 255.0)
    np.testing.assert_array_equal(y, labels)
    Xt, yt = load_mnist(tmp_path, "test", dtype=np.float32, scale=False)
    np.testing.assert_array_equal(Xt, images[:7].reshape(7, -1))
    assert Xt.dtype == np.float32 and yt.shape == (7,)
    chunks = list(iter_mnist_chunks(tmp_path, chunk_size=5))
    assert [c[0].shape[0] for c in chunks] == [5, 5, 5, 5, 3]
    np.testing.assert_allclose(np.vstack([c[0] for c in chunks]), X, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), y)


def test_mismatched_counts_raise(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8), True)
    with pytest.raises(ValueError, match="23 images but 5 labels"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="23 images but 5 labels"):
        next(iter_mnist_chunks(tmp_path))


def test_no_default_location():
    """The package names no data path: the caller says where the files are."""
    import inspect

    import sk_softmax.datasets as datasets

    assert "shared" not in inspect.getsource(datasets)
    assert not hasattr(datasets, "default_mnist_dir")
    with pytest.raises(TypeError):
        load_mnist()
