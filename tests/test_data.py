"""aecourse.data: loading MNIST-like data offline from torchvision's layout, clear errors, batching."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from conftest import IDX_FILES, snapshot

import aecourse
from aecourse.data import files, images
from aecourse.data.files import DataNotFoundError, cache_root, data_root
from aecourse.data.images import ImageData, load_images
from aecourse.training import batches


def expected_images(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).unsqueeze(1).float() / 255.0


# --- where data are found --------------------------------------------------------------------------


def test_data_root_follows_aecourse_data(monkeypatch, tmp_path):
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "somewhere"))
    assert data_root() == tmp_path / "somewhere"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AECOURSE_DATA", "~/mnist-copy")
    assert data_root() == tmp_path / "mnist-copy"


def test_data_root_defaults_to_the_checkout_data_folder():
    checkout_data = (
        Path(aecourse.__file__).resolve().parent.parent / "data"
    )
    # this repository has one (with a README)
    assert checkout_data.is_dir()
    assert data_root() == checkout_data


def test_cache_root_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c" / "aecourse"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "aecourse"


# --- loading from .gz files only --------------------------------------------------------------------


def test_loads_gz_files_offline_with_exact_values(
    make_idx_data, monkeypatch, cache_dir, network_calls
):
    d = make_idx_data(n_train=12, n_test=5)
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    images = load_images("mnist")

    assert isinstance(images, ImageData) and images.name == "mnist"
    assert images.train_x.shape == (
        12,
        1,
        28,
        28,
    ) and images.test_x.shape == (5, 1, 28, 28)
    assert (
        images.train_x.dtype == torch.float32
        and images.test_x.dtype == torch.float32
    )
    assert images.train_y.shape == (12,) and images.test_y.shape == (5,)
    assert (
        images.train_y.dtype == torch.int64
        and images.test_y.dtype == torch.int64
    )
    assert images.train_x.device.type == "cpu"
    torch.testing.assert_close(
        images.train_x, expected_images(d.train_x), rtol=0, atol=0
    )
    torch.testing.assert_close(
        images.test_x, expected_images(d.test_x), rtol=0, atol=0
    )
    assert (
        images.train_y.tolist() == d.train_y.tolist()
        and images.test_y.tolist() == d.test_y.tolist()
    )
    # pixel 0 -> 0.0, 255 -> 1.0, 128 -> 128/255, and everything in [0, 1]
    assert images.train_x[0, 0, 0, :3].tolist() == pytest.approx(
        [0.0, 1.0, 128 / 255]
    )
    assert images.train_x.min() >= 0 and images.train_x.max() <= 1
    assert images.classes == list(torchvision.datasets.MNIST.classes)
    assert "train (12, 1, 28, 28)" in repr(
        images
    ) and "test (5, 1, 28, 28)" in repr(images)
    # unpacked into the cache, without trying the network
    assert {p.name for p in (cache_dir / "MNIST" / "raw").iterdir()} >= {
        n.removesuffix(".gz") for n in IDX_FILES
    }
    assert network_calls == []


def test_the_data_folder_is_never_written_to(make_idx_data, monkeypatch):
    d = make_idx_data()
    before = snapshot(d.root)
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    load_images("mnist")
    load_images("mnist", train_size=3)  # a second load reuses the cache
    assert snapshot(d.root) == before
    assert sorted(p.name for p in d.raw.iterdir()) == sorted(IDX_FILES)


def test_train_size_and_test_size_keep_the_first_images(
    make_idx_data, monkeypatch
):
    d = make_idx_data(n_train=12, n_test=5)
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    images = load_images("mnist", train_size=4, test_size=2)
    assert images.train_x.shape == (
        4,
        1,
        28,
        28,
    ) and images.test_x.shape == (2, 1, 28, 28)
    torch.testing.assert_close(
        images.train_x, expected_images(d.train_x[:4]), rtol=0, atol=0
    )
    torch.testing.assert_close(
        images.test_x, expected_images(d.test_x[:2]), rtol=0, atol=0
    )
    assert (
        images.train_y.tolist() == d.train_y[:4].tolist()
        and images.test_y.tolist() == d.test_y[:2].tolist()
    )


def test_device_argument_accepts_a_string(make_idx_data, monkeypatch):
    d = make_idx_data()
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    images = load_images("mnist", train_size=2, test_size=2, device="cpu")
    assert images.train_x.device == torch.device(
        "cpu"
    ) and images.test_y.device == torch.device("cpu")


@pytest.mark.parametrize(
    "name", ["fashion-mnist", "Fashion_MNIST", " FASHION-MNIST "]
)
def test_fashion_mnist_by_any_spelling(make_idx_data, monkeypatch, name):
    d = make_idx_data(
        cls=torchvision.datasets.FashionMNIST, n_train=6, n_test=3
    )
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    images = load_images(name)
    torch.testing.assert_close(
        images.train_x, expected_images(d.train_x), rtol=0, atol=0
    )
    assert images.classes == list(
        torchvision.datasets.FashionMNIST.classes
    )
    assert images.classes[9] == "Ankle boot"


def test_unpacked_files_in_the_data_folder_are_read_in_place(
    make_idx_data, monkeypatch, cache_dir
):
    d = make_idx_data(gz=False, n_train=7, n_test=3)
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    images = load_images("mnist", download=False)
    torch.testing.assert_close(
        images.train_x, expected_images(d.train_x), rtol=0, atol=0
    )
    assert images.test_y.tolist() == d.test_y.tolist()
    assert not cache_dir.exists()  # nothing needed copying


def test_gz_files_load_with_download_switched_off(
    make_idx_data, monkeypatch
):
    d = make_idx_data()
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    images = load_images("mnist", download=False)
    torch.testing.assert_close(
        images.train_x, expected_images(d.train_x), rtol=0, atol=0
    )


def test_a_small_slice_of_mnist(mnist_root, monkeypatch):
    """The real shared MNIST when present (else the synthetic copy): values, labels, and no writes there."""
    root, first_labels = mnist_root
    before = snapshot(root)
    monkeypatch.setenv("AECOURSE_DATA", str(root))
    images = load_images("mnist", train_size=10, test_size=4)
    assert images.train_x.shape == (
        10,
        1,
        28,
        28,
    ) and images.test_x.shape == (4, 1, 28, 28)
    assert images.train_y.tolist() == first_labels
    # MNIST digits use the full 0..255 range
    assert images.train_x.min() == 0 and images.train_x.max() == 1
    # exactly k/255
    assert torch.equal(
        images.train_x * 255, (images.train_x * 255).round()
    )
    assert snapshot(root) == before


# --- clear errors --------------------------------------------------------------------------------------


def test_missing_files_without_download_say_what_to_put_where(
    tmp_path, monkeypatch
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AECOURSE_DATA", str(empty))
    calls = []
    monkeypatch.setattr(
        torchvision.datasets.MNIST,
        "download",
        lambda self: calls.append(self),
    )
    with pytest.raises(DataNotFoundError, match="AECOURSE_DATA") as info:
        load_images("mnist", download=False)
    message = str(info.value)
    for name in IDX_FILES:
        assert name in message
    assert str(empty / "MNIST" / "raw") in message
    assert "downloading is switched off" in message
    assert isinstance(info.value, FileNotFoundError)
    assert calls == []  # no download was attempted
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("Error downloading train-images-idx3-ubyte.gz"),
        urllib.error.URLError("no network"),
    ],
)
def test_failed_download_gives_the_same_clear_error(
    tmp_path, monkeypatch, error
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AECOURSE_DATA", str(empty))

    def fail(self):
        raise error

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fail)
    with pytest.raises(DataNotFoundError, match="AECOURSE_DATA") as info:
        load_images("mnist", download=True)
    message = str(info.value)
    for name in IDX_FILES:
        assert name in message
    assert type(error).__name__ in message  # the reason, in one line
    assert info.value.__cause__ is error


def test_corrupt_gz_files_and_no_network_give_a_clear_error(
    make_idx_data, monkeypatch, network_calls
):
    d = make_idx_data()
    # MD5s no longer match
    monkeypatch.setattr(
        torchvision.datasets.MNIST,
        "resources",
        [
            (name, "0" * 32)
            for name, _ in torchvision.datasets.MNIST.resources
        ],
    )
    before = snapshot(d.root)
    monkeypatch.setenv("AECOURSE_DATA", str(d.root))
    with pytest.raises(
        DataNotFoundError, match="(?s)its MD5 is not.*AECOURSE_DATA"
    ):
        load_images("mnist")
    assert not network_calls  # a corrupt local copy is reported, not silently replaced by a download
    assert snapshot(d.root) == before


def test_unknown_data_set_lists_the_valid_names():
    with pytest.raises(
        ValueError,
        match=r"Unknown data set 'cifar10'.*'fashion-mnist', 'mnist'",
    ):
        load_images("cifar10")


@pytest.mark.parametrize(
    "sizes", [dict(train_size=0), dict(train_size=-5), dict(test_size=0)]
)
def test_bad_sizes_are_refused_before_any_loading(
    sizes, monkeypatch, tmp_path
):
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "nothing-here"))
    label = next(iter(sizes))
    with pytest.raises(
        ValueError, match=f"{label} must be a positive number"
    ):
        load_images("mnist", **sizes)


# --- batches -----------------------------------------------------------------------------------------


def test_batches_cover_every_index_once_per_epoch():
    x = torch.arange(10)
    got = list(batches(x, batch_size=3))
    assert [len(b) for (b,) in got] == [3, 3, 3, 1]
    assert sorted(torch.cat([b for (b,) in got]).tolist()) == list(
        range(10)
    )


def test_batches_shuffle_differently_each_epoch_and_repeat_under_a_seed():
    x = torch.arange(100)
    torch.manual_seed(3)
    epoch1 = torch.cat([b for (b,) in batches(x, batch_size=32)])
    epoch2 = torch.cat([b for (b,) in batches(x, batch_size=32)])
    torch.manual_seed(3)
    again = torch.cat([b for (b,) in batches(x, batch_size=32)])
    assert not torch.equal(epoch1, x) and not torch.equal(epoch1, epoch2)
    assert torch.equal(epoch1, again)
    assert sorted(epoch2.tolist()) == list(range(100))


def test_batches_keep_tensors_aligned_and_shapes():
    x = torch.randn(9, 1, 4, 4)
    y = torch.arange(9)
    for xb, yb in batches(x, y, batch_size=4):
        assert xb.shape[1:] == (1, 4, 4) and len(xb) == len(yb)
        torch.testing.assert_close(xb, x[yb])


def test_batches_without_shuffle_are_in_order():
    x = torch.arange(7)
    assert [
        b.tolist() for (b,) in batches(x, batch_size=3, shuffle=False)
    ] == [[0, 1, 2], [3, 4, 5], [6]]


def test_batches_refuse_bad_input():
    with pytest.raises(ValueError, match="at least one tensor"):
        list(batches(batch_size=2))
    with pytest.raises(ValueError, match=r"same length, got \[3, 4\]"):
        list(batches(torch.zeros(3), torch.zeros(4), batch_size=2))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        list(batches(torch.zeros(3), batch_size=0))


def test_datasets_map_to_torchvision_classes():
    assert images.DATASETS == {
        "mnist": torchvision.datasets.MNIST,
        "fashion-mnist": torchvision.datasets.FashionMNIST,
    }


def test_failed_download_with_an_empty_message_still_gives_a_clear_error(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path))

    def fail(self):
        raise RuntimeError()

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fail)
    with pytest.raises(DataNotFoundError, match="AECOURSE_DATA"):
        load_images("mnist")


def test_a_different_copy_of_the_data_replaces_the_cached_one(
    make_idx_data, monkeypatch
):
    """The cache is keyed by data set, so pointing AECOURSE_DATA at another copy must not serve the old one."""
    first = make_idx_data()
    monkeypatch.setenv("AECOURSE_DATA", str(first.root))
    assert len(load_images("mnist").train_x) == len(first.train_x)
    second = make_idx_data(
        n_train=len(first.train_x) + 8,
        root=first.root.parent / "another-copy",
    )
    monkeypatch.setenv("AECOURSE_DATA", str(second.root))
    images = load_images("mnist")
    torch.testing.assert_close(
        images.train_x, expected_images(second.train_x), rtol=0, atol=0
    )


def test_find_file_looks_in_the_data_folder_then_the_cache_then_fetches_into_the_cache(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    relative = Path("corpus") / "text.txt"
    fetched = []

    def fetch(target):
        fetched.append(target)
        target.parent.mkdir(parents=True)
        target.write_text("fetched")

    # nowhere yet: fetched
    assert (
        files.find_file(
            relative, fetch, "The corpus", "one sentence per line"
        )
        == cache_root() / relative
    )
    assert (
        fetched == [cache_root() / relative]
        and (cache_root() / relative).read_text() == "fetched"
    )
    # cached: no fetch
    assert (
        files.find_file(
            relative,
            fetch,
            "The corpus",
            "one sentence per line",
            download=False,
        )
        == cache_root() / relative
    )
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    (tmp_path / "data" / relative).write_text("local")
    # the data folder comes first
    assert (
        files.find_file(
            relative, fetch, "The corpus", "one sentence per line"
        )
        == tmp_path / "data" / relative
    )
    assert len(fetched) == 1


def test_find_file_says_what_to_do_when_it_cannot_fetch(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    message = ("The corpus", "one sentence per line")

    def offline(target):
        raise urllib.error.URLError("no network")

    with pytest.raises(
        DataNotFoundError,
        match=r"(?s)The corpus text.txt is not in .*data \(set by AECOURSE_DATA\) and could not be downloaded \(URLError: <urlopen error no network>\).*Put text.txt \(one sentence per line\)",
    ):
        files.find_file(Path("text.txt"), offline, *message)
    with pytest.raises(
        DataNotFoundError, match="downloading is switched off"
    ):
        files.find_file(
            Path("text.txt"), offline, *message, download=False
        )
    with pytest.raises(
        ValueError, match="not ours"
    ):  # errors other than the listed ones are not hidden
        files.find_file(
            Path("text.txt"),
            lambda target: (_ for _ in ()).throw(ValueError("not ours")),
            *message,
        )


def test_cache_files_appear_whole_or_not_at_all(tmp_path):
    # A second notebook filling the cache at the same time must never see half a file.
    from aecourse.data.files import _write_whole

    target = tmp_path / "train-images-idx3-ubyte"

    def fails_halfway(path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        _write_whole(target, fails_halfway)
    # neither the target nor the temporary file is left
    assert list(tmp_path.iterdir()) == []
    _write_whole(target, lambda path: path.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole" and list(
        tmp_path.iterdir()
    ) == [target]
