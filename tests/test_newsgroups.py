"""aecourse.data.newsgroups: finding the archive, counts from a tiny fake archive, the clear error, the real data."""

from __future__ import annotations

import io
import os
import tarfile
import urllib.request
from pathlib import Path

import pytest
import torch
from conftest import snapshot

from aecourse.data import newsgroups
from aecourse.data.files import DataNotFoundError
from aecourse.data.newsgroups import (
    GROUPS,
    categories,
    load_newsgroups,
    newsgroups_archive,
    normalize_counts,
    read_archive,
)

SHARED_ARCHIVE = (
    Path(
        os.environ.get("AECOURSE_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    / newsgroups.FILE
)

# A tiny archive in the bydate layout. Headers, signatures (after a "--" line) and quoted lines hold words
# that must not be counted by default. File "10" sorts before "2", as load_files sorts names.
POSTS = {
    "20news-bydate-train/alt.x/2": "From: a@b.c\nSubject: hello\n\ncats dogs cats\n",
    "20news-bydate-train/alt.x/10": "From: d@e.f\n\nIn article <1@g.h> d@e.f writes:\n> zebra zebra\ndogs birds cats\n",
    "20news-bydate-train/comp.y/5": "Subject: hello\n\nthe and of\n",  # only stop words: dropped
    "20news-bydate-train/comp.y/7": "Subject: hello\n\nkeyboard cats keyboard keyboard\n--\nsignature\n",
    "20news-bydate-test/alt.x/3": "From: x@y.z\n\ncats zebra unicorn\n",
    "20news-bydate-test/comp.y/4": "From: x@y.z\n\nunicorn\n",  # no training word: dropped
    "20news-bydate-test/comp.y/8": "From: x@y.z\n\nkeyboard dogs unicorn caf\xe9\n",
}


def fake_archive(posts=POSTS) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in posts.items():
            content = text.encode("latin-1")
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_archive(folder: Path, posts=POSTS) -> Path:
    path = folder / newsgroups.FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fake_archive(posts))
    return path


@pytest.fixture
def fake_data(tmp_path, monkeypatch) -> Path:
    write_archive(tmp_path / "data")
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_counts_labels_and_vocabulary_come_from_the_training_posts(
    fake_data, network_calls
):
    before = snapshot(fake_data)
    data = load_newsgroups(vocab_size=10)
    assert data.groups == ["alt.x", "comp.y"]
    # Not "hello" (a header), "zebra" (quoted), "signature" (footer), nor the test-only "unicorn".
    assert data.vocabulary == ["birds", "cats", "dogs", "keyboard"]
    assert data.train_x.dtype == torch.float32 and data.train_x.shape == (
        3,
        4,
    )
    # alt.x/10, alt.x/2, comp.y/7
    assert data.train_x.tolist() == [
        [1, 1, 1, 0],
        [0, 2, 1, 0],
        [0, 1, 0, 3],
    ]
    assert data.train_y.tolist() == [
        0,
        0,
        1,
    ] and data.train_index.tolist() == [0, 1, 3]  # comp.y/5 dropped
    # alt.x/3, comp.y/8; comp.y/4 dropped
    assert data.test_x.tolist() == [[0, 1, 0, 0], [0, 0, 1, 1]]
    assert data.test_y.tolist() == [
        0,
        1,
    ] and data.test_index.tolist() == [0, 2]
    assert network_calls == [] and snapshot(fake_data) == before


def test_vocab_size_keeps_the_most_frequent_training_words(fake_data):
    # cats 4, keyboard 3, dogs 2, birds 1 in training
    data = load_newsgroups(vocab_size=2)
    assert data.vocabulary == ["cats", "keyboard"]
    assert data.train_x.tolist() == [[1, 0], [2, 0], [1, 3]]
    assert data.test_x.tolist() == [[1, 0], [0, 1]]


def test_remove_nothing_keeps_headers_quotes_and_signatures(fake_data):
    kept = load_newsgroups(vocab_size=100, remove=()).vocabulary
    assert {"hello", "zebra", "signature", "article"} <= set(kept)
    assert (
        "zebra"
        in load_newsgroups(
            vocab_size=100, remove=("headers", "footers")
        ).vocabulary
    )
    texts = read_archive(fake_data / newsgroups.FILE, remove=())["test"][
        0
    ]
    assert texts[2].endswith("caf\xe9\n")  # latin-1 decoded


def test_the_parsed_counts_are_cached_per_vocab_size(
    fake_data, cache_dir, monkeypatch
):
    first = load_newsgroups(vocab_size=10)
    assert (
        len(list((cache_dir / "20newsgroups").glob("counts-*-10-*.pt")))
        == 1
    )

    def refuse(*args, **kwargs):
        raise AssertionError("the archive was read again")

    monkeypatch.setattr(newsgroups, "read_archive", refuse)
    again = load_newsgroups(vocab_size=10)
    assert (
        torch.equal(again.train_x, first.train_x)
        and again.vocabulary == first.vocabulary
    )
    with pytest.raises(AssertionError, match="read again"):
        load_newsgroups(vocab_size=2)  # another key


def test_the_archive_in_the_cache_is_used_without_a_data_folder(
    tmp_path, monkeypatch, cache_dir, network_calls
):
    write_archive(cache_dir)  # xdg-cache/aecourse/20newsgroups/...
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "nothing"))
    assert newsgroups_archive() == cache_dir / newsgroups.FILE
    assert load_newsgroups(vocab_size=10).groups == ["alt.x", "comp.y"]
    assert network_calls == []


@pytest.mark.parametrize("download", [True, False])
def test_no_archive_and_no_network_says_what_to_put_where(
    tmp_path, monkeypatch, network_calls, download
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AECOURSE_DATA", str(empty))
    tried = []
    if not download:
        monkeypatch.setattr(
            newsgroups, "_download", lambda url, target: tried.append(url)
        )
    with pytest.raises(DataNotFoundError) as info:
        load_newsgroups(download=download)
    message = str(info.value)
    for needed in (
        "20news-bydate.tar.gz",
        str(empty / "20newsgroups"),
        "AECOURSE_DATA",
        newsgroups.URL,
    ):
        assert needed in message
    assert (
        ("URLError" in message)
        if download
        else ("downloading is switched off" in message)
    )
    assert (
        network_calls == ([newsgroups.URL] if download else [])
        and tried == []
    )
    assert list(empty.iterdir()) == []


def test_download_goes_into_the_cache_and_a_broken_one_leaves_nothing(
    tmp_path, monkeypatch, cache_dir
):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("AECOURSE_DATA", str(data))
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, *a, **k: io.BytesIO(b"<html>not found</html>"),
    )
    with pytest.raises(DataNotFoundError, match="ReadError"):
        newsgroups_archive()
    assert not (cache_dir / "20newsgroups").exists() or not list(
        (cache_dir / "20newsgroups").iterdir()
    )
    urls = []

    def serve(url, *args, **kwargs):
        urls.append(url)
        return io.BytesIO(fake_archive())

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    path = newsgroups_archive()
    assert path == cache_dir / newsgroups.FILE and urls == [
        newsgroups.URL
    ]
    assert load_newsgroups(vocab_size=10).vocabulary == [
        "birds",
        "cats",
        "dogs",
        "keyboard",
    ]
    assert len(urls) == 1 and list(data.iterdir()) == []


def test_normalize_counts():
    counts = torch.tensor([[1, 3, 0], [2, 2, 4]])
    assert normalize_counts(counts).tolist() == [
        [0.25, 0.75, 0.0],
        [0.25, 0.25, 0.5],
    ]
    with pytest.raises(ValueError, match=r"Rows \[1\] sum to 0"):
        normalize_counts(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        normalize_counts(torch.tensor([[1.0, -1.0]]))
    with pytest.raises(ValueError, match=r"shape \(N, V\)"):
        normalize_counts(torch.ones(3))


def test_bad_arguments(fake_data):
    for size in (0, -5, 2.5, True):
        with pytest.raises(
            ValueError,
            match=rf"vocab_size must be an integer >= 1, got {size!r}",
        ):
            load_newsgroups(vocab_size=size)
    with pytest.raises(ValueError, match="remove must hold only"):
        load_newsgroups(remove=("signatures",))


@pytest.mark.skipif(
    not SHARED_ARCHIVE.is_file(),
    reason="the shared 20news-bydate.tar.gz is not here",
)
def test_the_real_archive(monkeypatch):
    monkeypatch.setenv("AECOURSE_DATA", str(SHARED_ARCHIVE.parents[1]))
    before = snapshot(SHARED_ARCHIVE.parent)
    posts = read_archive(SHARED_ARCHIVE, remove=())
    assert (
        len(posts["train"][0]) == 11314 and len(posts["test"][0]) == 7532
    )
    assert (
        posts["train"][2] == posts["test"][2]
        and len(posts["train"][2]) == 20
    )
    atheism = posts["train"][2].index("alt.atheism")
    assert (
        posts["train"][1].count(atheism) == 480
        and posts["test"][1].count(atheism) == 319
    )
    data = load_newsgroups(vocab_size=2000)
    assert (
        data.groups == posts["train"][2] and len(data.vocabulary) == 2000
    )
    assert data.train_x.shape[1] == data.test_x.shape[1] == 2000
    # Each post is kept unless nothing of it is left in the vocabulary (a few percent).
    assert (
        0.95 * 11314 < len(data.train_x) <= 11314
        and 0.95 * 7532 < len(data.test_x) <= 7532
    )
    assert (
        data.train_index.max() < 11314
        and (data.train_index.diff() > 0).all()
    )
    assert (data.train_x.sum(1) > 0).all() and (
        data.test_x.sum(1) > 0
    ).all()
    assert torch.equal(
        data.train_y, torch.tensor(posts["train"][1])[data.train_index]
    )
    assert set(data.train_y.tolist()) == set(range(20))
    assert (
        tuple(data.groups) == GROUPS
        and len(categories(data.groups)[1]) == 20
    )
    assert snapshot(SHARED_ARCHIVE.parent) == before


# --- broad topics --------------------------------------------------------------------------------------


def test_categories_of_the_20_groups():
    names, index = categories(GROUPS)
    assert names == [
        "computers",
        "recreation",
        "science",
        "politics",
        "religion",
        "for sale",
    ]
    topic = {group: names[i] for group, i in zip(GROUPS, index)}
    assert topic == {
        "alt.atheism": "religion",
        "comp.graphics": "computers",
        "comp.os.ms-windows.misc": "computers",
        "comp.sys.ibm.pc.hardware": "computers",
        "comp.sys.mac.hardware": "computers",
        "comp.windows.x": "computers",
        "misc.forsale": "for sale",
        "rec.autos": "recreation",
        "rec.motorcycles": "recreation",
        "rec.sport.baseball": "recreation",
        "rec.sport.hockey": "recreation",
        "sci.crypt": "science",
        "sci.electronics": "science",
        "sci.med": "science",
        "sci.space": "science",
        "soc.religion.christian": "religion",
        "talk.politics.guns": "politics",
        "talk.politics.mideast": "politics",
        "talk.politics.misc": "politics",
        "talk.religion.misc": "religion",
    }
    assert [index.count(k) for k in range(6)] == [5, 4, 4, 3, 3, 1]
    # colouring posts: labels index the groups, the index list maps them to topics
    labels = torch.tensor([0, 6, 19, 1])
    assert torch.tensor(index)[labels].tolist() == [4, 5, 4, 0]


def test_categories_follow_the_order_given_and_name_what_they_cannot_place():
    names, index = categories(["sci.med", "comp.graphics"])
    assert [names[i] for i in index] == ["science", "computers"]
    with pytest.raises(
        ValueError,
        match=r"Cannot place the groups \['talk.religion', 'alt.x'\]",
    ):
        categories(["sci.med", "talk.religion", "alt.x"])


def test_document_inputs_learn_only_from_the_fitting_counts():
    fit_counts = torch.tensor(
        [[2.0, 0, 1], [0, 3, 1], [1, 0, 0]]
    )  # df = 2, 1, 2
    other = torch.tensor([[4.0, 0, 0], [0, 1, 1]])
    props, other_props = newsgroups.document_inputs(
        "proportions", fit_counts, other
    )
    assert torch.allclose(
        other_props, torch.tensor([[1.0, 0, 0], [0, 0.5, 0.5]])
    )
    assert torch.allclose(props.sum(1), torch.ones(3))
    (logs,) = newsgroups.document_inputs("log counts", other)
    assert torch.allclose(logs, torch.log1p(other))
    # tf-idf by hand, as scikit-learn defines it: idf_w = ln((1 + n) / (1 + df_w)) + 1 over the
    # fitting documents, then rows scaled to unit length
    df = (fit_counts > 0).sum(0).float()
    idf = torch.log((1 + 3) / (1 + df)) + 1
    want = other * idf
    want = want / want.norm(dim=1, keepdim=True)
    _, got = newsgroups.document_inputs("tf-idf", fit_counts, other)
    assert got.dtype == torch.float32 and torch.allclose(
        got, want, atol=1e-6
    )
    # the weights come from fit_counts: fitting on other gives other weights
    _, refit = newsgroups.document_inputs("tf-idf", other, other)
    assert not torch.allclose(refit, got)


def test_document_inputs_refuse_unknown_kinds_and_shapes():
    with pytest.raises(ValueError, match="kind must be one of"):
        newsgroups.document_inputs("bm25", torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"Expected \(N, 3\)"):
        newsgroups.document_inputs(
            "log counts", torch.ones(2, 3), torch.ones(2, 4)
        )
