"""20 Newsgroups as bag-of-words count tensors, for document similarity and retrieval (the applications
chapter).

The archive is found through ``AECOURSE_DATA`` like every data set (see :mod:`aecourse.data`), as
``20newsgroups/20news-bydate.tar.gz`` (layout ``20news-bydate-train/<group>/<id>`` and
``20news-bydate-test/<group>/<id>``: 11,314 training and 7,532 test posts, latin-1 text). With no file
there, a copy in the cache (``~/.cache/aecourse/20newsgroups/``) is used; with none there either and a
network, the official archive is downloaded into the cache (never into the data folder, which may be
read-only); with no network, :class:`DataNotFoundError` says what to put where.

The archive is read as it is, never unpacked (one pass over the .tar.gz takes 1–2 s, while writing its
18,846 small files out took ~17 s here). :func:`load_newsgroups` then

1. reads every post (groups and files in sorted order, as ``sklearn.datasets.load_files`` does) and, by
   default, strips its headers, signature and quoted replies with scikit-learn's own functions, as
   ``fetch_20newsgroups(remove=("headers", "footers", "quotes"))`` does: the headers name the group;
2. counts words with ``CountVectorizer(max_features=vocab_size, stop_words="english")`` fitted on the
   *training* posts only, so the test posts never choose the vocabulary;
3. **drops the posts with none of the kept words** (a few hundred, mostly posts that were only quotes or
   headers): an empty row has no word distribution, so :func:`normalize_counts` could not make it sum
   to 1. ``train_index`` / ``test_index`` say which posts were kept.

Steps 1–2 take ~10 s, so their result is cached (in ``cache_root()/20newsgroups/``) as a ``.pt`` file keyed
by the settings and the archive: later loads take well under a second.

Twenty colours are too many to tell apart on a 2-D map of the posts, so :func:`categories` groups the
20 newsgroups into 6 broad topics (computers, recreation, science, politics, religion, for sale).
"""

from __future__ import annotations

import hashlib
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from aecourse._args import integer
from aecourse.data.files import cache_root, find_file

URL = "http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz"
FILE = Path("20newsgroups") / "20news-bydate.tar.gz"
SPLITS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
REMOVABLE = ("headers", "footers", "quotes")
_FORMAT = 1  # bump when the cached .pt files change meaning
# The 20 groups in label order (sorted, as the archive's folders are read).
GROUPS = (
    "alt.atheism",
    "comp.graphics",
    "comp.os.ms-windows.misc",
    "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware",
    "comp.windows.x",
    "misc.forsale",
    "rec.autos",
    "rec.motorcycles",
    "rec.sport.baseball",
    "rec.sport.hockey",
    "sci.crypt",
    "sci.electronics",
    "sci.med",
    "sci.space",
    "soc.religion.christian",
    "talk.politics.guns",
    "talk.politics.mideast",
    "talk.politics.misc",
    "talk.religion.misc",
)
TOPICS = (
    "computers",
    "recreation",
    "science",
    "politics",
    "religion",
    "for sale",
)


# --- finding the archive -------------- ----------------------------------------------------------------


def _download(url: str, target: Path) -> None:
    """Fetch url into target, written whole and then renamed, so a failed download leaves no file."""
    with urllib.request.urlopen(url, timeout=120) as response:
        content = response.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(content)
    try:
        with tarfile.open(
            partial, "r:gz"
        ) as archive:  # refuse an HTML error page or a cut-off file
            archive.getmembers()
    except (tarfile.TarError, EOFError, OSError):
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def newsgroups_archive(download: bool = True) -> Path:
    """Where 20news-bydate.tar.gz is: under ``data_root()``, else in the cache, else downloaded into the cache.

    Raises DataNotFoundError, naming the file and the folder to put it in, when it is nowhere and
    cannot be downloaded (``download=False`` or no network).
    """
    return find_file(
        FILE,
        lambda target: _download(URL, target),
        "The 20 Newsgroups archive",
        f"from {URL}, holding 20news-bydate-train/<group>/<id> and 20news-bydate-test/<group>/<id>",
        download,
        errors=(OSError, tarfile.TarError, EOFError),
    )


def _fingerprint(archive: Path) -> str:
    """A short key for one archive file (its place, size and modification time), to tell copies apart cheaply."""
    stat = archive.stat()
    return hashlib.sha256(
        f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()[:12]


# --- reading posts -------------------------------------------------------------------------------------


def read_archive(
    archive: Path | str, remove=REMOVABLE
) -> dict[str, tuple[list[str], list[int], list[str]]]:
    """The posts of both splits, read straight from the .tar.gz: {"train": (texts, labels, groups), "test": ...}.

    The archive is read in one pass without unpacking it (1–2 s; writing its 18,846 small files out took
    ~17 s). Members ``[...]/20news-bydate-<split>/<group>/<id>`` are used, others ignored. Groups are sorted
    by name (label = position) and posts by file name, as ``sklearn.datasets.load_files`` orders them;
    text is decoded as latin-1. remove: any of "headers", "footers", "quotes", stripped with scikit-learn's
    functions. Raises ValueError for a bad remove, or a split with no posts.
    """
    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )

    remove = _check_remove(remove)
    folders = {folder: split for split, folder in SPLITS.items()}
    posts: dict[str, dict[str, list[tuple[str, str]]]] = {
        split: {} for split in SPLITS
    }
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if (
                not member.isfile()
                or len(parts) < 3
                or parts[-3] not in folders
            ):
                continue
            text = tar.extractfile(member).read().decode("latin-1")
            posts[folders[parts[-3]]].setdefault(parts[-2], []).append(
                (parts[-1], text)
            )
    result = {}
    for split, by_group in posts.items():
        if not by_group:
            raise ValueError(
                f"{archive} has no posts under {SPLITS[split]}/<group>/<id>."
            )
        groups = sorted(by_group)
        texts, labels = [], []
        for label, group in enumerate(groups):
            for _name, text in sorted(by_group[group]):
                if "headers" in remove:
                    text = strip_newsgroup_header(text)
                if "footers" in remove:
                    text = strip_newsgroup_footer(text)
                if "quotes" in remove:
                    text = strip_newsgroup_quoting(text)
                texts.append(text)
                labels.append(label)
        result[split] = (texts, labels, groups)
    return result


def _check_remove(remove) -> tuple[str, ...]:
    if isinstance(remove, str):
        remove = (remove,)
    remove = tuple(remove or ())
    bad = [r for r in remove if r not in REMOVABLE]
    if bad:
        raise ValueError(f"remove must hold only {REMOVABLE}, got {bad}.")
    # one order, for the cache key
    return tuple(r for r in REMOVABLE if r in remove)


# --- counts --------------------------------------------------------------------------------------------


@dataclass
class NewsgroupsData:
    """Word counts of the kept posts, on one device.

    train_x: (N, V) float32 word counts; train_y: (N,) int64 labels in [0, 20). Likewise test_x, test_y.
    train_index, test_index: (N,) int64, each kept post's position in its split's file order (posts with
    no vocabulary word are dropped). groups: the group names in label order. vocabulary: the V words,
    column order (alphabetical, as CountVectorizer orders them).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_index: torch.Tensor
    test_index: torch.Tensor
    groups: list[str]
    vocabulary: list[str]

    def __repr__(self) -> str:
        return (
            f"NewsgroupsData(train {tuple(self.train_x.shape)}, test {tuple(self.test_x.shape)}, "
            f"{len(self.groups)} groups, device={self.train_x.device})"
        )


def _count(
    archive: Path, vocab_size: int, remove: tuple[str, ...]
) -> dict:
    """Read both splits and count words: a dict of CSR parts (kept rows only) and the names."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    posts = read_archive(archive, remove)
    (train_texts, train_y, groups), (test_texts, test_y, test_groups) = (
        posts["train"],
        posts["test"],
    )
    if test_groups != groups:
        raise ValueError(
            f"The test split's groups {test_groups} differ from the training split's {groups}."
        )
    vectorizer = CountVectorizer(
        max_features=vocab_size, stop_words="english"
    )
    result = {
        "groups": groups,
        "vocabulary": vectorizer.fit(train_texts)
        .get_feature_names_out()
        .tolist(),
    }
    for split, texts, labels in (
        ("train", train_texts, train_y),
        ("test", test_texts, test_y),
    ):
        counts = vectorizer.transform(texts).tocsr()
        kept = np.flatnonzero(np.asarray(counts.sum(axis=1)).ravel() > 0)
        counts = counts[kept]
        counts.sort_indices()
        result[split] = {
            "crow": torch.from_numpy(counts.indptr.astype(np.int64)),
            "col": torch.from_numpy(counts.indices.astype(np.int64)),
            "values": torch.from_numpy(counts.data.astype(np.float32)),
            "shape": tuple(int(s) for s in counts.shape),
            "labels": torch.tensor(labels, dtype=torch.int64)[
                torch.from_numpy(kept)
            ],
            "index": torch.from_numpy(kept.astype(np.int64)),
        }
    return result


def load_newsgroups(
    vocab_size: int = 2000,
    device: torch.device | str | None = None,
    *,
    remove=REMOVABLE,
    download: bool = True,
    use_cache: bool = True,
) -> NewsgroupsData:
    """20 Newsgroups as word-count tensors on ``device``: see :class:`NewsgroupsData`.

    vocab_size: the most frequent training words kept (English stop words left out), V. remove: parts of
    each post to strip, any of "headers", "footers", "quotes" (default all three; () keeps posts whole).
    use_cache: read and write the parsed counts in the cache (keyed by vocab_size, remove and the archive).
    Posts with no kept word are dropped (see the module's docstring).
    Raises ValueError for a bad vocab_size or remove; DataNotFoundError without the archive.
    """
    integer("vocab_size", vocab_size, low=1)
    remove = _check_remove(remove)
    archive = newsgroups_archive(download)
    tag = "-".join(remove) or "none"
    cached = (
        cache_root()
        / "20newsgroups"
        / f"counts-v{_FORMAT}-{vocab_size}-{tag}-{_fingerprint(archive)}.pt"
    )
    parts = None
    if use_cache and cached.is_file():
        try:
            parts = torch.load(cached, weights_only=True)
        except (
            Exception
        ):  # a damaged cache file is rebuilt, never trusted
            parts = None
    if parts is None:
        parts = _count(archive, vocab_size, remove)
        if use_cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(cached.name + ".part")
            torch.save(parts, partial)
            partial.replace(cached)
    device = (
        torch.device(device)
        if device is not None
        else torch.device("cpu")
    )

    def dense(split):
        p = parts[split]
        rows = torch.repeat_interleave(
            torch.arange(p["shape"][0]), p["crow"].diff()
        )
        matrix = torch.zeros(tuple(p["shape"]), dtype=torch.float32)
        matrix[rows, p["col"]] = p["values"]
        return (
            matrix.to(device),
            p["labels"].to(device),
            p["index"].to(device),
        )

    train_x, train_y, train_index = dense("train")
    test_x, test_y, test_index = dense("test")
    return NewsgroupsData(
        train_x,
        train_y,
        test_x,
        test_y,
        train_index,
        test_index,
        list(parts["groups"]),
        list(parts["vocabulary"]),
    )


def normalize_counts(x: torch.Tensor) -> torch.Tensor:
    """Word counts -> word proportions: each row divided by its sum, so rows sum to 1.

    x: (N, V) non-negative  ->  (N, V) float. Raises ValueError for another shape, a negative entry, or a
    row summing to 0 (a post with no word has no proportions; :func:`load_newsgroups` drops such posts).
    """
    if x.dim() != 2:
        raise ValueError(
            f"Expected counts of shape (N, V), got {tuple(x.shape)}."
        )
    x = x if x.is_floating_point() else x.float()
    if (x < 0).any():
        raise ValueError("Counts must be non-negative.")
    totals = x.sum(dim=1, keepdim=True)
    empty = (totals.squeeze(1) == 0).nonzero().flatten()
    if len(empty):
        raise ValueError(
            f"Rows {empty[:10].tolist()} sum to 0 ({len(empty)} in all): drop empty documents first."
        )
    return x / totals


# The three ways of feeding word counts to a model that the applications chapter chooses among, on
# validation posts, for the autoencoder and for LSA alike.
INPUTS = ("proportions", "log counts", "tf-idf")


def document_inputs(
    kind: str, fit_counts: torch.Tensor, *counts: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Word counts as one of :data:`INPUTS`, with anything learned from ``fit_counts`` only.

    kind: "proportions" (c_w / Σ_v c_v, :func:`normalize_counts`), "log counts" (log(1 + c_w), which damps
    the very frequent words) or "tf-idf" (scikit-learn's ``TfidfTransformer``, its idf weights fitted on
    ``fit_counts``, rows scaled to unit length). fit_counts (N, V) and each of counts (M, V): non-negative
    word counts  ->  one float32 (·, V) tensor per argument, fit_counts' first, on the inputs' devices.
    Raises ValueError for an unknown kind or a bad shape.
    """
    if kind not in INPUTS:
        raise ValueError(f"kind must be one of {INPUTS}, got {kind!r}.")
    matrices = (fit_counts, *counts)
    for x in matrices:
        if x.dim() != 2 or x.shape[1] != fit_counts.shape[1]:
            raise ValueError(
                f"Expected (N, {fit_counts.shape[-1]}) word counts, got {tuple(x.shape)}."
            )
    if kind == "proportions":
        return tuple(normalize_counts(x) for x in matrices)
    if kind == "log counts":
        return tuple(torch.log1p(x.float()) for x in matrices)
    from sklearn.feature_extraction.text import TfidfTransformer

    tfidf = TfidfTransformer().fit(fit_counts.cpu().numpy())
    return tuple(
        torch.from_numpy(tfidf.transform(x.cpu().numpy()).toarray()).to(
            device=x.device, dtype=torch.float32
        )
        for x in matrices
    )


# --- broad topics --------------------------------------------------------------------------------------


def _topic(group: str) -> str | None:
    """The broad topic of one newsgroup name, or None when it fits none."""
    if group in (
        "alt.atheism",
        "soc.religion.christian",
        "talk.religion.misc",
    ):
        return "religion"
    if group == "misc.forsale":
        return "for sale"
    for prefix, topic in (
        ("comp.", "computers"),
        ("rec.", "recreation"),
        ("sci.", "science"),
        ("talk.politics.", "politics"),
    ):
        if group.startswith(prefix):
            return topic
    return None


def categories(groups) -> tuple[list[str], list[int]]:
    """Map newsgroup names to 6 broad topics: (names, index) with index[i] the topic of groups[i].

    groups: names such as ``NewsgroupsData.groups`` (G,)  ->  names, the 6 topics ["computers",
    "recreation", "science", "politics", "religion", "for sale"], and index, G ints in 0..5. comp.* are
    computers, rec.* recreation, sci.* science, talk.politics.* politics; alt.atheism,
    soc.religion.christian and talk.religion.misc religion; misc.forsale for sale. A post's topic is then
    ``torch.tensor(index)[labels]``. Raises ValueError naming every group that fits none.
    """
    topics = [_topic(group) for group in groups]
    unplaced = [
        group for group, topic in zip(groups, topics) if topic is None
    ]
    if unplaced:
        raise ValueError(
            f"Cannot place the groups {unplaced} in a topic: expected 20 Newsgroups names such as "
            f"{GROUPS[:2]}."
        )
    return list(TOPICS), [TOPICS.index(topic) for topic in topics]
