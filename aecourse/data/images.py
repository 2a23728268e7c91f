"""Image data sets (MNIST, Fashion-MNIST) as tensors on the device.

Every chapter that trains on images starts here. The data are found through one setting,
``AECOURSE_DATA`` (default: the ``data/`` folder of this checkout, or ``./data`` when aecourse is
installed without one). Under it torchvision's layout is expected, e.g. ``MNIST/raw/*.gz``:

- the four ``.gz`` files are enough: they are copied into a writable cache (``~/.cache/aecourse``), where
  torchvision checks their MD5s and unpacks them without a network. The data folder itself is never
  written to, so it can be a shared, read-only copy;
- with nothing there and a network (Colab, Binder), they are downloaded;
- with nothing there and no network, :class:`DataNotFoundError` says which files to put where.

MNIST is small (60k × 784 bytes), so the whole training set lives on the device as one float tensor and
is batched with :func:`aecourse.training.batches`: on a GPU this is far faster than a per-sample ``DataLoader``.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.datasets.utils import check_integrity

from aecourse.data.files import (
    DataNotFoundError,
    _write_whole,
    cache_root,
    data_root,
)

# Course name -> torchvision class. The class knows its folder name and its files (name, md5).
DATASETS = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
}


@dataclass
class ImageData:
    """Train and test images with labels, all on one device.

    train_x: (N, 1, 28, 28) float32 in [0, 1]; train_y: (N,) int64. Likewise test_x, test_y.
    classes: the label names, in label order.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name}: train {tuple(self.train_x.shape)}, test {tuple(self.test_x.shape)}, "
            f"device={self.train_x.device})"
        )


def _dataset_key(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(
            f"Unknown data set {name!r}: expected one of {sorted(DATASETS)}."
        )
    return key


def _writable(folder: Path) -> bool:
    """Whether files can be created in folder (or in its nearest existing parent)."""
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _files(cls) -> list[str]:
    """The .gz file names torchvision expects for a data set class."""
    return [filename for filename, _md5 in cls.resources]


def _same_file(source: Path, copy: Path) -> bool:
    """Whether copy is an up-to-date copy of source (same size, not older)."""
    return (
        copy.is_file()
        and copy.stat().st_size == source.stat().st_size
        and copy.stat().st_mtime_ns >= source.stat().st_mtime_ns
    )


def _gunzip(source: Path, target: Path) -> None:
    with gzip.open(source, "rb") as packed, open(target, "wb") as out:
        shutil.copyfileobj(packed, out)


def _prepare_root(cls, root: Path, download: bool) -> Path:
    """A folder torchvision can load ``cls`` from, unpacking a copy of .gz-only files in the cache."""
    raw = root / cls.__name__ / "raw"
    if all((raw / f.removesuffix(".gz")).is_file() for f in _files(cls)):
        return root
    cache = cache_root()
    if all((raw / f).is_file() for f in _files(cls)):
        # Only the .gz files: the data folder may be a shared, read-only copy (even root must not write
        # there), so copy them into the cache, check their MD5s and unpack them there. No network needed.
        cache_raw = cache / cls.__name__ / "raw"
        cache_raw.mkdir(parents=True, exist_ok=True)
        for f, md5 in cls.resources:
            unpacked = cache_raw / f.removesuffix(".gz")
            if not _same_file(raw / f, cache_raw / f):
                # never serve data unpacked from another copy
                unpacked.unlink(missing_ok=True)
                _write_whole(
                    cache_raw / f, partial(shutil.copyfile, raw / f)
                )
                # the mtime _same_file compares
                shutil.copystat(raw / f, cache_raw / f)
            if not check_integrity(str(cache_raw / f), md5):
                raise DataNotFoundError(
                    _not_found_message(
                        cls,
                        root,
                        f"{raw / f} is there but its MD5 is not {md5}: a damaged file or another version",
                    )
                )
            if not unpacked.is_file():
                _write_whole(unpacked, partial(_gunzip, cache_raw / f))
        return cache
    if not download:
        raise DataNotFoundError(
            _not_found_message(cls, root, "downloading is switched off")
        )
    return root if _writable(root) else cache


def _not_found_message(cls, root: Path, reason: str) -> str:
    files = ", ".join(_files(cls))
    where = (
        "set by AECOURSE_DATA"
        if os.environ.get("AECOURSE_DATA")
        else "the default; set AECOURSE_DATA to change it"
    )
    return (
        f"{cls.__name__} is not in {root} ({where}) and could not be downloaded ({reason}).\n"
        f"Put the files {files} into {root / cls.__name__ / 'raw'}, or point AECOURSE_DATA at a folder "
        f"that has {cls.__name__}/raw/ with them (for example: export AECOURSE_DATA=../shared/data), "
        "or run once with a network connection to download them."
    )


def _load_split(
    cls, source: Path, root: Path, train: bool, download: bool
):
    """One split through torchvision, loading from ``source`` (root or the cache); errors name ``root``."""
    try:
        ds = cls(str(source), train=train, download=download)
    except Exception as err:  # torchvision raises RuntimeError/URLError/OSError from deep inside
        first_line = (str(err).splitlines() or ["no message"])[0]
        raise DataNotFoundError(
            _not_found_message(
                cls, root, f"{type(err).__name__}: {first_line}"
            )
        ) from err
    return ds


def load_images(
    name: str = "mnist",
    *,
    train_size: int | None = None,
    test_size: int | None = None,
    device: torch.device | str | None = None,
    download: bool = True,
) -> ImageData:
    """Load MNIST or Fashion-MNIST as float tensors in [0, 1] on ``device``.

    name: ``"mnist"`` or ``"fashion-mnist"``. train_size/test_size: keep the first n images of each
    split (MNIST's order is already mixed, so the first n are a fair sample); None, or more than the
    split has, keeps all.
    Returns :class:`ImageData` with images of shape (N, 1, 28, 28).
    Raises ValueError for an unknown name or a bad size, DataNotFoundError when the files are missing.
    """
    key = _dataset_key(name)
    cls = DATASETS[key]
    for label, size in (
        ("train_size", train_size),
        ("test_size", test_size),
    ):
        if size is not None and size <= 0:
            raise ValueError(
                f"{label} must be a positive number of images or None, got {size}."
            )
    root = data_root()
    source = _prepare_root(cls, root, download)
    train = _load_split(cls, source, root, True, download)
    test = _load_split(cls, source, root, False, download)
    device = (
        torch.device(device)
        if device is not None
        else torch.device("cpu")
    )

    def tensors(ds, n):
        x = (
            ds.data[:n]
            .unsqueeze(1)
            .to(device=device, dtype=torch.float32)
            / 255.0
        )
        return x, ds.targets[:n].to(device)

    train_x, train_y = tensors(train, train_size)
    test_x, test_y = tensors(test, test_size)
    return ImageData(
        key, train_x, train_y, test_x, test_y, list(train.classes)
    )
