"""Shared fixtures of the unit tests: an isolated environment, no network, tiny data sets on disk.

Every test runs with the AECOURSE_* variables unset, a fresh XDG cache in its tmp_path, PyTorch seeded,
the network blocked and matplotlib on the Agg backend, so tests neither depend on nor change the
machine they run on.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

os.environ["MPLBACKEND"] = "Agg"  # before anything imports pyplot

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

# The tests use tiny tensors: one thread is fastest, and avoids OpenMP threads spinning against each other
# when the (2-core) machine is busy, which made tiny steps ~50x slower.
torch.set_num_threads(1)

# The real data folder CI points AECOURSE_DATA at (read before the fixtures unset it), else the shared copy
# beside the checkout. Used only if MNIST is there, and never written to.
SHARED_MNIST = Path(
    os.environ.get("AECOURSE_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)

# torchvision's file names, in the order of its ``resources`` lists.
IDX_FILES = {
    "train-images-idx3-ubyte.gz": ("train", "images"),
    "train-labels-idx1-ubyte.gz": ("train", "labels"),
    "t10k-images-idx3-ubyte.gz": ("test", "images"),
    "t10k-labels-idx1-ubyte.gz": ("test", "labels"),
}


# --- isolation -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No AECOURSE_* settings, a private cache folder, a seeded torch, and figures closed afterwards."""
    for name in ("AECOURSE_PROFILE", "AECOURSE_SEED", "AECOURSE_DATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    torch.manual_seed(0)
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def network_calls(monkeypatch):
    """Block the network: every urlopen raises URLError. Returns the list of URLs that were tried."""
    tried: list[str] = []

    def refuse(url, *args, **kwargs):
        tried.append(getattr(url, "full_url", url))
        raise urllib.error.URLError("network disabled in the unit tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tried


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    """Where aecourse.data may unpack data sets in this test (``$XDG_CACHE_HOME/aecourse``)."""
    return tmp_path / "xdg-cache" / "aecourse"


# --- tiny data sets in torchvision's layout ------------------------------------------------------


def idx_images(images: np.ndarray) -> bytes:
    """(n, rows, cols) uint8 -> IDX file bytes (magic 2051 = 0x0803: unsigned bytes, 3 dimensions)."""
    n, rows, cols = images.shape
    return (
        struct.pack(">IIII", 2051, n, rows, cols)
        + images.astype(np.uint8).tobytes()
    )


def idx_labels(labels: np.ndarray) -> bytes:
    """(n,) uint8 -> IDX file bytes (magic 2049 = 0x0801: unsigned bytes, 1 dimension)."""
    return (
        struct.pack(">II", 2049, len(labels))
        + np.asarray(labels, dtype=np.uint8).tobytes()
    )


def snapshot(folder: Path) -> dict:
    """Every file and folder under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (
            p.is_dir(),
            p.stat().st_size,
            p.stat().st_mtime_ns,
        )
        for p in folder.rglob("*")
    }


@dataclass
class IdxData:
    """A data set written by :func:`make_idx_data`: where it is and what it holds (uint8 / int64 arrays)."""

    root: Path
    cls: type
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    files: list[str] = field(default_factory=list)

    @property
    def raw(self) -> Path:
        return self.root / self.cls.__name__ / "raw"


@pytest.fixture
def make_idx_data(tmp_path, monkeypatch):
    """Factory: write a tiny valid MNIST-like data set under ``root/<Class>/raw``.

    gz=True writes torchvision's four ``.gz`` files and patches the class's ``resources`` so their MD5s
    validate; gz=False writes the four unpacked IDX files instead. Pixel 0 of image 0 is 0, pixel 1 is
    255 and pixel 2 is 128, so the scaling to [0, 1] can be checked exactly.
    """

    def make(
        cls=torchvision.datasets.MNIST,
        n_train: int = 12,
        n_test: int = 5,
        gz: bool = True,
        root=None,
    ):
        root = Path(root) if root is not None else tmp_path / "data"
        raw = root / cls.__name__ / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(len(cls.__name__))
        arrays = {
            "train": (
                rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                (np.arange(n_train) * 7 + 3) % 10,
            ),
            "test": (
                rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                (np.arange(n_test) * 3 + 1) % 10,
            ),
        }
        arrays["train"][0][0, 0, :3] = (0, 255, 128)
        resources, files = [], []
        for name, _md5 in cls.resources:
            split, kind = IDX_FILES[name]
            images, labels = arrays[split]
            content = (
                idx_images(images)
                if kind == "images"
                else idx_labels(labels)
            )
            if gz:
                content = gzip.compress(content, mtime=0)
                target = name
            else:
                target = name.removesuffix(".gz")
            (raw / target).write_bytes(content)
            resources.append((name, hashlib.md5(content).hexdigest()))
            files.append(target)
        if gz:
            monkeypatch.setattr(cls, "resources", resources)
        (train_x, train_y), (test_x, test_y) = (
            arrays["train"],
            arrays["test"],
        )
        return IdxData(
            root,
            cls,
            train_x,
            train_y.astype(np.int64),
            test_x,
            test_y.astype(np.int64),
            files,
        )

    return make


@pytest.fixture
def mnist_root(make_idx_data):
    """MNIST to load a small slice from: the real shared copy when it is there, else a synthetic one.

    Returns (root, first ten training labels). The real MNIST starts with the labels 5 0 4 1 9 2 1 3 1 4.
    """
    raw = SHARED_MNIST / "MNIST" / "raw"
    if all((raw / name).is_file() for name in IDX_FILES):
        return SHARED_MNIST, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    data = make_idx_data(n_train=12)
    return data.root, data.train_y[:10].tolist()


# --- small notebooks -----------------------------------------------------------------------------


@pytest.fixture
def good_notebook():
    """A notebook as the book publishes it: markdown, code with outputs, a solution cell, a full-profile stamp."""
    import nbformat
    from nbformat.v4 import (
        new_code_cell,
        new_markdown_cell,
        new_notebook,
        new_output,
    )

    from aecourse.book.notebooks import source_hash

    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# A chapter\nWhy it matters."),
        new_code_cell(
            "print('profile=full device=cpu seed=0')",
            execution_count=1,
            outputs=[
                new_output(
                    "stream",
                    name="stdout",
                    text="profile=full device=cpu seed=0\n",
                )
            ],
        ),
        new_code_cell(
            "def f(x):\n    raise NotImplementedError", execution_count=2
        ),
        new_code_cell(
            "def f(x):\n    return 2 * x",
            execution_count=3,
            metadata={"tags": ["solution"]},
        ),
        new_code_cell(
            "f(2)",
            execution_count=4,
            outputs=[
                new_output(
                    "execute_result",
                    data={"text/plain": "4"},
                    execution_count=4,
                )
            ],
        ),
    ]
    nb.metadata["aecourse"] = {
        "source_hash": source_hash(nb),
        "profile": "full",
        "device": "cuda",
        "seed": 0,
    }
    nbformat.validate(nb)
    return nb
