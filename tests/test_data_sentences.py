"""aecourse.data.sentences: the English sentences split as the translation chapter splits them, each
once, a vocabulary from the training sentences, <eos> between sentences, windows cut by hand, and the
token classes of a few words by hand."""

from __future__ import annotations

import pytest
import torch

from aecourse.data import sentences as S
from aecourse.data.translation import (
    EOS_INDEX,
    UNK_INDEX,
    load_translation,
    normalize,
)

SUBJECTS = ("I", "You", "He", "She", "We", "They", "Tom", "Mary")
VERBS = ("like", "see", "want", "have")
OBJECTS = ("the dog", "a cat", "this book", "some water", "my car")


def write_pairs(folder) -> list[str]:
    """A small eng-fra.txt of 160 distinct English sentences (each with a made-up French side), the
    first ten of them twice with another translation, as Tatoeba has them; returns the English lines."""
    english = [
        f"{s} {v} {o}." for s in SUBJECTS for v in VERBS for o in OBJECTS
    ]
    lines = [f"{e}\tfr {i}." for i, e in enumerate(english)]
    lines += [f"{e}\tautre {i}." for i, e in enumerate(english[:10])]
    path = folder / "translation" / "eng-fra.txt"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return english


@pytest.fixture
def pairs_file(tmp_path, monkeypatch):
    english = write_pairs(tmp_path)
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path))
    return english


def test_each_english_sentence_once_normalised_and_short():
    raw = [
        ("Go.", "Va !"),
        ("Go.", "Marche."),
        ("I'm tired.", "Je suis fatigué."),
        ("This sentence is far too long to keep.", "Non."),
    ]
    assert S.english_sentences(raw, max_tokens=5) == [
        "go .",
        "i 'm tired .",
    ]
    with pytest.raises(ValueError, match="max_tokens"):
        S.english_sentences(raw, max_tokens=0)


def test_the_split_and_vocabulary_are_the_translation_chapters(
    pairs_file,
):
    data = S.load_sentences(min_count=2, valid=0.2, test=0.2, seed=3)
    # the sequence autoencoder's split of the same sentences, by the same hash of the sentence
    ae = load_translation(
        "autoencoder", min_count=2, valid=0.2, test=0.2, seed=3
    )
    for split in ("train", "valid", "test"):
        mine = data.sentences[split]
        assert len(mine) == len(set(mine))  # each sentence once
        assert sorted(mine) == sorted(getattr(ae, split).source)
    assert len(sum(data.sentences.values(), [])) == 160
    assert data.vocab.tokens == ae.src_vocab.tokens
    # the file is sorted by nothing here, but each split's order is shuffled by the seed
    again = S.load_sentences(min_count=2, valid=0.2, test=0.2, seed=3)
    assert again.sentences == data.sentences
    assert torch.equal(again.train, data.train)


def test_the_stream_is_the_sentences_with_eos_between(pairs_file):
    data = S.load_sentences(min_count=1, valid=0.2, test=0.2)
    for split in ("train", "valid", "test"):
        stream = getattr(data, split)
        assert stream.dtype == torch.int64 and stream.dim() == 1
        expected = [
            i for s in data.sentences[split] for i in data.vocab.encode(s)
        ]
        assert stream.tolist() == expected
        assert int((stream == EOS_INDEX).sum()) == len(
            data.sentences[split]
        )
        assert stream[-1] == EOS_INDEX
    # the first training sentence, read back
    first = data.train[: int((data.train == EOS_INDEX).nonzero()[0]) + 1]
    assert data.vocab.decode(first) == data.sentences["train"][0]
    assert data.classes.shape == (len(data.vocab),)


def test_rare_words_and_a_training_subset(pairs_file):
    # min_count above every count: only the specials are left, every word is <unk>
    data = S.load_sentences(min_count=10_000, valid=0.2, test=0.2)
    assert len(data.vocab) == 4
    assert set(data.train.tolist()) == {UNK_INDEX, EOS_INDEX}
    small = S.load_sentences(
        min_count=1, valid=0.2, test=0.2, train_size=7
    )
    full = S.load_sentences(min_count=1, valid=0.2, test=0.2)
    assert len(small.sentences["train"]) == 7
    assert set(small.sentences["train"]) <= set(full.sentences["train"])
    assert small.sentences["test"] == full.sentences["test"]
    with pytest.raises(ValueError, match="train_size"):
        S.load_sentences(train_size=0)
    with pytest.raises(ValueError, match="min_count"):
        S.load_sentences(min_count=0)


def test_windows_by_hand():
    stream = torch.arange(10)
    assert S.windows(stream, 3).tolist() == [
        [0, 1, 2, 3],
        [3, 4, 5, 6],
        [6, 7, 8, 9],
    ]
    # 11 tokens: the last one is left over
    assert S.windows(torch.arange(11), 3).shape == (3, 4)
    assert S.windows(torch.arange(4), 3).tolist() == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="n >= context"):
        S.windows(torch.arange(3), 3)
    with pytest.raises(ValueError, match="integer"):
        S.windows(torch.zeros(10), 3)
    with pytest.raises(ValueError, match="context"):
        S.windows(stream, 0)
    with pytest.raises(ValueError, match=r"\(n,\)"):
        S.windows(torch.zeros(2, 5, dtype=torch.int64), 1)


@pytest.mark.parametrize(
    "token, name",
    [
        ("<eos>", "end of sentence"),
        (".", "punctuation"),
        ("?", "punctuation"),
        ('"', "punctuation"),
        ("she", "pronoun"),
        ("my", "pronoun"),
        ("the", "determiner"),
        ("with", "preposition"),
        ("why", "question word"),
        ("'re", "to be"),
        ("was", "to be"),
        ("'s", "other"),
        ("dog", "other"),
        ("<unk>", "other"),
        ("<pad>", "other"),
        ("42", "other"),
    ],
)
def test_token_classes_by_hand(token, name):
    assert S.CLASSES[S.token_class(token)] == name


def test_token_classes_follow_the_vocabulary_and_normalised_text():
    vocab = S.Vocab.build(["who is she ?", "the dog 's ball ."])
    classes = S.token_classes(vocab)
    assert classes.dtype == torch.int64 and classes.shape == (len(vocab),)
    for token, c in zip(vocab.tokens, classes.tolist()):
        assert c == S.token_class(token)
    # every word of the hand lists is a normalised English token, split as normalize splits
    for words in S.WORDS.values():
        for word in words.split():
            assert normalize(word, "eng") == word
