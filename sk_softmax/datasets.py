"""Reading MNIST-style IDX files (optionally gzip-compressed).

IDX layout: a 4-byte big-endian magic number whose third byte is the element type and
whose last byte is the number of dimensions, one 4-byte big-endian size per dimension,
then the data in C order.

The readers take a folder or file path and know no default location: where the data
lives is the caller's business (the benchmarks and examples have their own search
order).
"""

import gzip
from pathlib import Path

import numpy as np

__all__ = ["iter_mnist_chunks", "load_mnist", "read_idx"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(path):
    path = Path(path)
    if path.exists():
        return gzip.open(path) if path.suffix == ".gz" else open(path, "rb")
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gzip.open(gz)
    raise FileNotFoundError(f"Neither {path} nor {gz} exists.")


def _read_header(f, path):
    header = f.read(4)
    if len(header) != 4 or header[:2] != b"\x00\x00" or header[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (magic {header!r}).")
    dims = tuple(int.from_bytes(f.read(4), "big") for _ in range(header[3]))
    return np.dtype(_IDX_TYPES[header[2]]), dims


def read_idx(path):
    """Read a whole IDX file (``.gz`` or plain) into an ndarray.

    Parameters
    ----------
    path : str or Path
        File path; if it does not exist, ``path + ".gz"`` is tried.

    Returns
    -------
    array : ndarray of the shape stored in the file
    """
    with _open(path) as f:
        dtype, dims = _read_header(f, path)
        data = f.read()
    count = int(np.prod(dims))
    if len(data) != count * dtype.itemsize:
        raise ValueError(
            f"{path}: expected {count} values of {dtype}, file holds {len(data)} bytes."
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def load_mnist(data_dir, subset="train", *, dtype=np.float64, scale=True):
    """Load MNIST images and labels from IDX files.

    Parameters
    ----------
    data_dir : str or Path
        Folder holding ``train-images-idx3-ubyte[.gz]`` and friends.
    subset : {"train", "test"}
        Which split.
    dtype : dtype, default=np.float64
        Dtype of the returned images.
    scale : bool, default=True
        Divide the pixels by 255 (to [0, 1]).

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
    y : ndarray of shape (n_samples,), uint8
    """
    images, labels = _MNIST_FILES[subset]
    raw = read_idx(Path(data_dir, images))
    X = raw.reshape(raw.shape[0], -1).astype(dtype)
    if scale:
        X /= 255
    y = read_idx(Path(data_dir, labels))
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{data_dir}: {X.shape[0]} images but {y.shape[0]} labels.")
    return X, y


def iter_mnist_chunks(data_dir, subset="train", *, chunk_size=5000, dtype=np.float32, scale=True):
    """Stream MNIST from its IDX files in chunks, never holding more than one chunk.

    Parameters
    ----------
    data_dir : str or Path
    subset : {"train", "test"}
    chunk_size : int, default=5000
        Rows per chunk (the last one may be shorter).
    dtype : dtype, default=np.float32
    scale : bool, default=True
        Divide the pixels by 255.

    Yields
    ------
    X : ndarray of shape (m, 784)
    y : ndarray of shape (m,), uint8
    """
    images, labels = _MNIST_FILES[subset]
    with _open(Path(data_dir, images)) as fi, _open(Path(data_dir, labels)) as fl:
        img_dtype, img_dims = _read_header(fi, images)
        lab_dtype, lab_dims = _read_header(fl, labels)
        if img_dims[0] != lab_dims[0]:
            raise ValueError(f"{data_dir}: {img_dims[0]} images but {lab_dims[0]} labels.")
        row = int(np.prod(img_dims[1:]))
        for start in range(0, img_dims[0], chunk_size):
            m = min(chunk_size, img_dims[0] - start)
            raw = np.frombuffer(fi.read(m * row * img_dtype.itemsize), dtype=img_dtype)
            X = raw.reshape(m, row).astype(dtype)
            if scale:
                X /= 255
            y = np.frombuffer(fl.read(m * lab_dtype.itemsize), dtype=lab_dtype)
            yield X, y.astype(lab_dtype.newbyteorder("="))
