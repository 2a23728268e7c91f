"""English sentences as one token stream, for a small language model (the sparse-autoencoder chapter).

The sentences are the English side of the translation pairs (:mod:`aecourse.data.translation`), so the
sparse-autoencoder chapter reads the features of a model trained on text the sequence-to-sequence chapter
already showed. From the file to tensors:

1. :func:`english_sentences`: each distinct English sentence once, normalised as the translation chapter
   normalises it, at most ``max_tokens`` tokens long;
2. split *by sentence* with :func:`~aecourse.data.translation.split_pairs`, the same seeded hash the
   translation chapter splits its pairs by, so a test sentence here is a test sentence there and was
   never seen in training;
3. a word :class:`~aecourse.data.translation.Vocab` from the training sentences only (rarer words become
   ``<unk>``);
4. :func:`token_stream`: each split's sentences in a seeded random order (the file is sorted by length),
   each followed by ``<eos>``, laid end to end: one long (n,) stream, as a language model reads a corpus;
5. :func:`windows` cuts a stream into (N, T + 1) rows for :func:`aecourse.models.transformer.next_token_loss`.

For reading what a feature responds to, every vocabulary entry also has a *token class*
(:func:`token_classes`), from the short hand lists below, so that a feature's label can be "fires on
pronouns" with a number behind it (:func:`aecourse.evaluation.features.concentration`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from aecourse._args import indices, integer
from aecourse.data.translation import (
    EOS,
    Vocab,
    prepare_pairs,
    read_pairs,
    split_pairs,
)

# --- token classes ----------------------------------------------------------------------------------

# The classes a feature is labelled by, in class-id order. "other" is everything not listed, <unk> and
# the never-seen <pad> and <sos> included.
CLASSES = (
    "other",
    "end of sentence",
    "punctuation",
    "pronoun",
    "determiner",
    "preposition",
    "question word",
    "to be",
)
# Hand lists, for the normalised tokens of English (lower case, clitics split off: "i 'm", "don 't").
# Possessives (my, your, ...) count as pronouns, "this"/"that" as determiners, "to" as a preposition even
# before a verb; "'s" is left out of "to be" because it is as often a possessive ("tom 's") as "is".
WORDS = {
    "pronoun": "i you he she it we they me him her us them my your his its our their mine yours "
    "hers ours theirs myself yourself himself herself itself ourselves yourselves themselves",
    "determiner": "the a an this that these those some any no every each all another",
    "preposition": "to of in on at for with from by about into over under after before "
    "without through",
    "question word": "what who whom whose where when why how which",
    "to be": "be am is are was were been being 'm 're",
}
_CLASS_OF_WORD = {
    word: CLASSES.index(name)
    for name, words in WORDS.items()
    for word in words.split()
}


def token_class(token: str) -> int:
    """The class id of one token, an index into :data:`CLASSES`.

    ``<eos>`` is "end of sentence"; a token without a letter or digit ("." "?" "," '"') is
    "punctuation"; the words of :data:`WORDS` their class; anything else "other" (0).
    """
    if token == EOS:
        return CLASSES.index("end of sentence")
    if token in _CLASS_OF_WORD:
        return _CLASS_OF_WORD[token]
    if (
        token
        and not token.startswith("<")
        and not any(c.isalnum() for c in token)
    ):
        return CLASSES.index("punctuation")
    return 0


def token_classes(vocab: Vocab) -> torch.Tensor:
    """The class id of every vocabulary entry: (V,) int64 in 0 .. len(CLASSES) − 1.

    Index it with token ids, ``token_classes(vocab)[tokens]``, to get each position's class, e.g. for
    :func:`aecourse.evaluation.features.concentration`.
    """
    return torch.tensor(
        [token_class(t) for t in vocab.tokens], dtype=torch.int64
    )


# --- sentences and streams --------------------------------------------------------------------------


def english_sentences(
    raw: list[tuple[str, str]], max_tokens: int = 10
) -> list[str]:
    """Each distinct English sentence of (English, French) pairs once, normalised, at most max_tokens long.

    raw: pairs as :func:`~aecourse.data.translation.read_pairs` gives them  ->  normalised sentences
    (tokens joined by single spaces) in the order they first appear. Raises ValueError if max_tokens < 1.
    """
    integer("max_tokens", max_tokens, low=1)
    prepared = prepare_pairs(
        [(eng, eng) for eng, _ in raw], max_tokens, ("eng", "eng")
    )
    return list(dict.fromkeys(s for s, _ in prepared))


def token_stream(
    sentences: list[str],
    vocab: Vocab,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sentences laid end to end, each followed by ``<eos>``: (n,) int64 token ids on device.

    n = Σ (tokens + 1). Words not in vocab become ``<unk>``. Raises ValueError for no sentences.
    """
    if not sentences:
        raise ValueError("token_stream needs at least one sentence.")
    ids = [i for s in sentences for i in vocab.encode(s)]
    return torch.tensor(ids, dtype=torch.int64, device=device)


def windows(stream: torch.Tensor, context: int) -> torch.Tensor:
    """Cut a token stream into rows of context + 1 tokens that overlap by one: (n,) -> (N, context + 1).

    Row i is stream[i·T : i·T + T + 1] with T = context, N = (n − 1) // T: the model reads the first T
    tokens of a row and is scored on the last T, so every token but the first is predicted exactly once
    (the few left at the end, fewer than T, are dropped). A row may start or end mid-sentence; ``<eos>``
    marks the joins. Raises ValueError for a stream that is not 1-D integer ids or is shorter than
    context + 1.
    """
    indices("stream", stream, "token ids")
    integer("context", context, low=1)
    if stream.dim() != 1 or len(stream) < context + 1:
        raise ValueError(
            f"stream must be (n,) token ids with n >= context + 1 = {context + 1}, got "
            f"{tuple(stream.shape)}."
        )
    return stream.unfold(0, context + 1, context)


@dataclass
class Sentences:
    """Three token streams (n,) int64 on one device, the vocabulary built from the training one, and the
    class id of every vocabulary entry, classes (V,) (:func:`token_classes`). sentences: the split's
    normalised sentences in stream order."""

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab: Vocab
    classes: torch.Tensor
    sentences: dict[str, list[str]]

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{s} {len(self.sentences[s])} sentences / {len(getattr(self, s))} tokens"
            for s in ("train", "valid", "test")
        )
        return f"Sentences({counts}; vocab {len(self.vocab)}; device={self.train.device})"


def load_sentences(
    *,
    max_tokens: int = 10,
    min_count: int = 5,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    train_size: int | None = None,
    device: torch.device | str | None = None,
    download: bool = True,
) -> Sentences:
    """Read, split and tensorise the English sentences: train, validation and test token streams.

    max_tokens: longest sentence kept (``<eos>`` not counted); min_count: fewer training occurrences
    make a word ``<unk>``; valid, test, seed: the split of :func:`~aecourse.data.translation.split_pairs`
    (seed 0 is the translation chapter's); the seed also shuffles each split's sentence order.
    train_size: keep a seeded random subset of this many training sentences (the vocabulary comes from
    it; validation and test stay whole). Raises ValueError for bad sizes or an empty split;
    DataNotFoundError without the file.
    """
    integer("min_count", min_count, low=1)
    if train_size is not None:
        integer("train_size", train_size, low=1)
    sentences = english_sentences(
        read_pairs(download=download), max_tokens
    )
    splits = split_pairs([(s, s) for s in sentences], valid, test, seed)
    named = dict(
        zip(
            ("train", "valid", "test"),
            ([s for s, _ in p] for p in splits),
        )
    )
    if train_size is not None and train_size < len(named["train"]):
        named["train"] = random.Random(seed).sample(
            named["train"], train_size
        )
    if not all(named.values()):
        raise ValueError(
            f"A split is empty ({ {k: len(v) for k, v in named.items()} } sentences): raise max_tokens "
            "or the fractions."
        )
    for name, split in named.items():
        # the file is sorted by length: shuffled, a window mixes short and long sentences
        random.Random(f"{seed}-{name}").shuffle(split)
    vocab = Vocab.build(named["train"], min_count)
    return Sentences(
        *(
            token_stream(named[s], vocab, device)
            for s in ("train", "valid", "test")
        ),
        vocab=vocab,
        classes=token_classes(vocab).to(device),
        sentences=named,
    )
