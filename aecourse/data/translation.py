"""English–French sentence pairs (Tatoeba) for the translation chapter: reading, normalising, vocabularies,
split, tensors.

The pairs are found through ``AECOURSE_DATA`` like every data set (see :mod:`aecourse.data`), as
``translation/eng-fra.txt``: one ``English<TAB>French`` pair per line. With no file there, a copy in the
cache (``~/.cache/aecourse/translation/``) is used; with none there either and a network, the PyTorch
tutorial's ``data.zip`` is downloaded and its ``data/eng-fra.txt`` stored in the cache (never in the data
folder, which may be read-only); with no network, :class:`DataNotFoundError` says what to put where.

From the file to tensors, in the order of the chapter:

1. :func:`normalize` each sentence to space-separated tokens, :func:`prepare_pairs` keeps the short ones;
2. :func:`split_pairs` into train / validation / test *by English sentence* (Tatoeba gives one English
   sentence several translations: split by pair, and a test sentence would be seen in training);
3. :class:`Vocab` from the training sentences only, so test words the model never saw become ``<unk>``;
4. :func:`to_tensor` pads the index sequences into (N, T) tensors with their lengths.

:func:`load_translation` does all four, for translation (English → French) or for the sequence
autoencoder (English → the same English).
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import unicodedata
import urllib.request
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from aecourse.data.files import find_file

URL = "https://download.pytorch.org/tutorial/data.zip"  # holds data/eng-fra.txt, the tutorial's cut
FILE = Path("translation") / "eng-fra.txt"
LANGUAGES = ("eng", "fra")
TASKS = ("translation", "autoencoder")

# The special tokens sit at fixed indices in every vocabulary, so models and losses need no vocabulary.
PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)
PAD_INDEX, SOS_INDEX, EOS_INDEX, UNK_INDEX = range(4)


# --- normalising ------------------------------------------------------------------------------------

# Typographic variants become one ASCII form (French writes ’ and « », English mostly ' and "); soft
# hyphens and zero-width spaces are invisible and go.
_TYPOGRAPHY = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "«": '"',
        "»": '"',
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "‐": "-",
        "…": "...",
        "\u00ad": None,
        "\u200b": None,
    }
)
_INNER_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
# A punctuation mark, or a dash at a word's edge, becomes a token of its own; so does an apostrophe that
# is not where the language's split put it (before an English clitic, after a French elision), which
# leaves normalised text unchanged by normalising it again.
_PUNCTUATION = {
    "eng": re.compile(r"[^\w\s'-]|(?<!\w)-|-(?!\w)|'(?!\w)"),
    "fra": re.compile(r"[^\w\s'-]|(?<!\w)-|-(?!\w)|(?<!\w)'"),
}


def normalize(text: str, language: str) -> str:
    """Lower-case ``text`` and separate its punctuation: the tokens, joined by single spaces.

    language: "eng" or "fra". English is reduced to ASCII (café → cafe; the few other non-ASCII
    characters are dropped); French keeps its accents, which tell words apart (a/à, ou/où, du/dû).
    Punctuation is split off ("go." → "go ."), hyphenated words stay whole ("est-ce", "dit-il"), and a
    word-inner apostrophe splits the way each language does: English clitics start a token ("i'm" →
    "i 'm", "don't" → "don 't"), French elisions end one ("j'ai" → "j' ai", "qu'est-ce" → "qu' est-ce").
    Normalising normalised text changes nothing. Raises ValueError for another language.
    """
    if language not in LANGUAGES:
        raise ValueError(
            f"language must be one of {LANGUAGES}, got {language!r}."
        )
    text = (
        unicodedata.normalize("NFC", text).lower().translate(_TYPOGRAPHY)
    )
    if language == "eng":
        # é = e + ´ -> e
        text = (
            unicodedata.normalize("NFKD", text)
            .encode("ascii", "ignore")
            .decode()
        )
    text = _INNER_APOSTROPHE.sub(
        " '" if language == "eng" else "' ", text
    )
    text = _PUNCTUATION[language].sub(r" \g<0> ", text)
    # also turns French narrow no-break spaces (before ! ? :) into spaces
    return " ".join(text.split())


# --- reading ----------------------------------------------------------------------------------------


def _fetch(target: Path) -> None:
    """Download the tutorial's data.zip and store its data/eng-fra.txt as target, written whole then renamed."""
    with urllib.request.urlopen(URL, timeout=60) as response:
        text = zipfile.ZipFile(io.BytesIO(response.read())).read(
            "data/eng-fra.txt"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # never a half file under the real name
    partial = target.with_suffix(".part")
    partial.write_bytes(text)
    partial.replace(target)


def translation_file(download: bool = True) -> Path:
    """Where eng-fra.txt is: under ``data_root()``, else in the cache, else downloaded into the cache.

    Raises DataNotFoundError, naming the file and the folder to put it in, when it is nowhere and
    cannot be downloaded (``download=False`` or no network).
    """
    return find_file(
        FILE,
        _fetch,
        "The English–French pairs",
        f"one 'English<TAB>French' pair per line, e.g. data/eng-fra.txt from {URL}",
        download,
        errors=(OSError, zipfile.BadZipFile, KeyError),
    )


def read_pairs(
    path: Path | str | None = None, download: bool = True
) -> list[tuple[str, str]]:
    """The raw (English, French) pairs of a file, in file order; path defaults to :func:`translation_file`.

    Columns after the second (newer Tatoeba files add an attribution) are ignored, blank lines skipped.
    Raises ValueError for a line without a TAB.
    """
    path = Path(path) if path is not None else translation_file(download)
    pairs = []
    for number, line in enumerate(
        path.read_text(encoding="utf-8").splitlines(), start=1
    ):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(
                f"{path}, line {number}: expected 'English<TAB>French', got {line[:80]!r}."
            )
        pairs.append((columns[0], columns[1]))
    return pairs


def prepare_pairs(
    raw: list[tuple[str, str]],
    max_tokens: int = 10,
    languages: tuple[str, str] = ("eng", "fra"),
) -> list[tuple[str, str]]:
    """Normalise (source, target) pairs and keep those with at most ``max_tokens`` tokens on both sides.

    languages: of the two sides, for :func:`normalize`; ("eng", "eng") for the autoencoder.
    Returns normalised pairs, tokens separated by single spaces, in the input's order.
    Raises ValueError if max_tokens < 1 or for an unknown language.
    """
    if max_tokens < 1:
        raise ValueError(
            f"max_tokens must be at least 1, got {max_tokens}."
        )
    for language in languages:
        normalize("", language)  # fail early on a bad name
    done: dict[
        tuple[str, str], str
    ] = {}  # Tatoeba repeats sentences: normalise each one once

    def norm(text, language):
        if (text, language) not in done:
            done[text, language] = normalize(text, language)
        return done[text, language]

    kept = []
    for src, tgt in raw:
        # Normalising only splits words further (bar a word made wholly of dropped characters), so a
        # pair with too many raw words is skipped unnormalised: the smaller max_tokens, the faster loading is.
        if len(src.split()) > max_tokens or len(tgt.split()) > max_tokens:
            continue
        src, tgt = norm(src, languages[0]), norm(tgt, languages[1])
        if (
            src
            and tgt
            and len(src.split()) <= max_tokens
            and len(tgt.split()) <= max_tokens
        ):
            kept.append((src, tgt))
    return kept


# --- splitting --------------------------------------------------------------------------------------


def _split_of(sentence: str, valid: float, test: float, seed: int) -> str:
    """'train', 'valid' or 'test' for one sentence, from a hash of (seed, sentence): a fixed coin per sentence."""
    digest = hashlib.sha256(f"{seed}\t{sentence}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return (
        "test" if u < test else "valid" if u < test + valid else "train"
    )


def split_pairs(
    pairs: list[tuple[str, str]],
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
):
    """Split pairs into (train, valid, test) lists by their first (English) sentence.

    All pairs of one English sentence land in the same split, so no validation or test sentence is
    seen in training. Each sentence's split is a seeded hash of the sentence itself, so it does not
    depend on the other pairs: the same seed puts a sentence in the same split for translation and for
    the autoencoder, whatever ``max_tokens``. The fractions (of English sentences) are met on average,
    not exactly. Raises ValueError unless valid, test >= 0 and valid + test < 1.
    """
    if valid < 0 or test < 0 or valid + test >= 1:
        raise ValueError(
            f"valid and test must be fractions >= 0 with valid + test < 1, got {valid} and {test}."
        )
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    for pair in pairs:
        splits[_split_of(pair[0], valid, test, seed)].append(pair)
    return splits["train"], splits["valid"], splits["test"]


# --- vocabularies and tensors -----------------------------------------------------------------------


class Vocab:
    """Tokens ↔ indices: the four specials first (``<pad>`` = 0, ``<sos>``, ``<eos>``, ``<unk>``), then words.

    tokens: the whole list, specials included. Build one with :meth:`build`.
    """

    def __init__(self, tokens: list[str]):
        if tuple(tokens[:4]) != SPECIALS or len(set(tokens)) != len(
            tokens
        ):
            raise ValueError(
                f"A vocabulary's tokens must start with {SPECIALS} and not repeat."
            )
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, sentences, min_count: int = 1) -> Vocab:
        """The tokens seen at least ``min_count`` times in sentences (space-separated strings).

        Most frequent first, ties in alphabetical order, so the same sentences give the same indices.
        Raises ValueError if min_count < 1.
        """
        if min_count < 1:
            raise ValueError(
                f"min_count must be at least 1, got {min_count}."
            )
        counts = Counter(
            token for sentence in sentences for token in sentence.split()
        )
        words = sorted(
            (
                t
                for t, c in counts.items()
                if c >= min_count and t not in SPECIALS
            ),
            key=lambda t: (-counts[t], t),
        )
        return cls([*SPECIALS, *words])

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return (
            f"Vocab({len(self)} tokens: {' '.join(self.tokens[4:9])} ...)"
        )

    def encode(self, sentence: str) -> list[int]:
        """'the cat .' -> indices of its tokens followed by ``<eos>``; unknown tokens become ``<unk>``."""
        return [
            self.index.get(token, UNK_INDEX) for token in sentence.split()
        ] + [EOS_INDEX]

    def decode(self, indices) -> str:
        """Indices -> a sentence: stops at the first ``<eos>``, skips ``<pad>`` and ``<sos>``."""
        words = []
        for i in (
            indices.tolist()
            if isinstance(indices, torch.Tensor)
            else indices
        ):
            if i == EOS_INDEX:
                break
            if i not in (PAD_INDEX, SOS_INDEX):
                words.append(self.tokens[i])
        return " ".join(words)


def to_tensor(
    sentences: list[str],
    vocab: Vocab,
    device: torch.device | str | None = None,
):
    """Sentences -> (indices (N, T) int64 padded with ``<pad>``, lengths (N,) int64), both on device.

    Each row is the sentence's indices and ``<eos>``; T is the longest row, lengths count ``<eos>``.
    Raises ValueError for no sentences.
    """
    if not sentences:
        raise ValueError("to_tensor needs at least one sentence.")
    rows = [vocab.encode(s) for s in sentences]
    width = max(map(len, rows))
    indices = torch.tensor(
        [row + [PAD_INDEX] * (width - len(row)) for row in rows],
        dtype=torch.int64,
    )
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
    return indices.to(device), lengths.to(device)


@dataclass
class Pairs:
    """One split as tensors: src (N, S) with src_lengths (N,), tgt (N, T) with tgt_lengths (N,).

    source and target keep the normalised sentences (BLEU compares against the real words, not ``<unk>``).
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt: torch.Tensor
    tgt_lengths: torch.Tensor
    source: list[str]
    target: list[str]

    def __len__(self) -> int:
        return len(self.source)


@dataclass
class TranslationData:
    """Train, validation and test :class:`Pairs` with the vocabularies (built from train) for one task."""

    task: str
    train: Pairs
    valid: Pairs
    test: Pairs
    src_vocab: Vocab
    tgt_vocab: Vocab

    def __repr__(self) -> str:
        return (
            f"TranslationData({self.task}: train {len(self.train)}, valid {len(self.valid)}, test {len(self.test)} "
            f"pairs; vocab {len(self.src_vocab)} -> {len(self.tgt_vocab)}; device={self.train.src.device})"
        )


def load_translation(
    task: str = "translation",
    *,
    max_tokens: int = 10,
    min_count: int = 2,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    train_size: int | None = None,
    device: torch.device | str | None = None,
    download: bool = True,
) -> TranslationData:
    """Read, normalise, filter, split and tensorise the pairs for one task, on ``device``.

    task: "translation" (English → French pairs) or "autoencoder" (each English sentence once, its own
    target). max_tokens: longest sentence kept, in tokens (``<eos>`` not counted). min_count: fewer
    training occurrences make a token ``<unk>``. valid, test, seed: see :func:`split_pairs`. train_size:
    keep a random (seeded) subset of this many training pairs, to make training cheaper; the validation and
    test pairs stay as they are, and the vocabularies come from the subset.
    Raises ValueError for a bad task or sizes, or a split left empty; DataNotFoundError without the file.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    raw = read_pairs(download=download)
    if task == "translation":
        pairs = prepare_pairs(raw, max_tokens)
    else:  # each English sentence once, as its own target
        pairs = list(
            dict.fromkeys(
                prepare_pairs(
                    [(eng, eng) for eng, _ in raw],
                    max_tokens,
                    ("eng", "eng"),
                )
            )
        )
    train, valid_pairs, test_pairs = split_pairs(pairs, valid, test, seed)
    if train_size is not None:
        if train_size < 1:
            raise ValueError(
                f"train_size must be at least 1 (or None for all), got {train_size}."
            )
        # A sample, not the first pairs: the file is sorted by sentence length. Kept in file order.
        keep = sorted(
            random.Random(seed).sample(
                range(len(train)), min(train_size, len(train))
            )
        )
        train = [train[i] for i in keep]
    if not train or not valid_pairs or not test_pairs:
        raise ValueError(
            f"A split is empty (train {len(train)}, valid {len(valid_pairs)}, test {len(test_pairs)} "
            f"pairs): raise max_tokens or the fractions."
        )
    src_vocab = Vocab.build((s for s, _ in train), min_count)
    tgt_vocab = (
        src_vocab
        if task == "autoencoder"
        else Vocab.build((t for _, t in train), min_count)
    )

    def tensors(split):
        sources, targets = [s for s, _ in split], [t for _, t in split]
        return Pairs(
            *to_tensor(sources, src_vocab, device),
            *to_tensor(targets, tgt_vocab, device),
            sources,
            targets,
        )

    return TranslationData(
        task,
        tensors(train),
        tensors(valid_pairs),
        tensors(test_pairs),
        src_vocab,
        tgt_vocab,
    )
