"""aecourse.data.translation: normalising, reading offline or by download, a leak-free split, vocabularies, tensors."""

from __future__ import annotations

import io
import math
import os
import urllib.request
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from conftest import snapshot

from aecourse.data import translation
from aecourse.data.files import DataNotFoundError
from aecourse.data.translation import (
    EOS_INDEX,
    PAD_INDEX,
    SPECIALS,
    UNK_INDEX,
    Vocab,
    load_translation,
    normalize,
    prepare_pairs,
    read_pairs,
    split_pairs,
    to_tensor,
    translation_file,
)

SHARED_PAIRS = (
    Path(
        os.environ.get("AECOURSE_DATA")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    / translation.FILE
)

# A tiny eng-fra.txt: "Go." has two translations and "I'm tired." three, as in Tatoeba.
LINES = [
    "Go.\tVa !",
    "Go.\tMarche.",
    "Hi.\tSalut !",
    "Run!\tCours\u202f!",
    "Who?\tQui ?",
    "Wow!\tÇa alors !",
    "I'm tired.\tJe suis fatigué.",
    "I'm tired.\tJe suis fatiguée.",
    "I’m tired.\tJe suis las.",
    "He's a café owner.\tIl est propriétaire d’un café.",
    "Tom is here.\tTom est là.",
    "This sentence is much too long to be kept.\tCette phrase est beaucoup trop longue pour être gardée.",
]


def write_pairs(folder: Path, lines=LINES) -> Path:
    path = folder / "translation" / "eng-fra.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def many_lines(n: int) -> list[str]:
    """n distinct short English sentences, each with one or two French translations."""
    words = ["cat", "dog", "bird", "fish", "horse", "cow", "frog", "owl"]
    lines = []
    for i in range(n):
        a, b, c = words[i % 8], words[(i // 8) % 8], words[(i // 64) % 8]
        lines.append(
            f"I see the {a} {b} {c} {i // 512}.\tJe vois le {a} {b} {c} {i // 512}."
        )
        if i % 3 == 0:
            lines.append(
                f"I see the {a} {b} {c} {i // 512}.\tJe regarde le {a} {b} {c} {i // 512}."
            )
    return lines


# --- normalising -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Go.", "go ."),
        ("Run!", "run !"),
        ("I'm OK.", "i 'm ok ."),
        ("Don’t!", "don 't !"),  # typographic apostrophe
        # English becomes ASCII
        ("He's a café owner.", "he 's a cafe owner ."),
        ("It's 3:30, isn't it?", "it 's 3 : 30 , isn 't it ?"),
        # an apostrophe not before a clitic is a token
        ("The students' books.", "the students ' books ."),
        ('"Hello," she said - twice.', '" hello , " she said - twice .'),
        ("A well-known fact…", "a well-known fact . . ."),
        # diaeresis and soft hyphen go
        ("Zoë co\u00adoperates.", "zoe cooperates ."),
        ("  Spaces\tand\nTABS  ", "spaces and tabs"),
    ],
)
def test_normalize_english(text, expected):
    assert normalize(text, "eng") == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Va !", "va !"),
        # accents (and capital Ç) kept, lower-cased
        ("Ça alors !", "ça alors !"),
        # elision: the apostrophe ends the token
        ("J'ai faim.", "j' ai faim ."),
        # narrow no-break space, hyphenated word
        ("Qu’est-ce que c’est\u202f?", "qu' est-ce que c' est ?"),
        ("« Bonjour », dit-il.", '" bonjour " , dit-il .'),
        # an apostrophe not after an elision is a token
        ("'Salut' - c'est tout.", "' salut' - c' est tout ."),
        ("Où es-tu\u00a0?", "où es-tu ?"),
        ("ÉTÉ À NOËL", "été à noël"),
        # a decomposed accent is composed (NFC), not lost
        ("Cafe\u0301", "café"),
    ],
)
def test_normalize_french_keeps_accents(text, expected):
    assert normalize(text, "fra") == expected


def test_normalize_is_idempotent_and_checks_the_language():
    for line in LINES + [
        "'Hello,' he said. J'y vais, l'été « aujourd'hui ».\tIt's the students' 'best' rock'n'roll - ok?"
    ]:
        eng, fra = line.split("\t")
        assert normalize(normalize(eng, "eng"), "eng") == normalize(
            eng, "eng"
        )
        assert normalize(normalize(fra, "fra"), "fra") == normalize(
            fra, "fra"
        )
    assert (
        normalize("Ça", "eng") == "ca" and normalize("Ça", "fra") == "ça"
    )
    with pytest.raises(
        ValueError,
        match=r"language must be one of \('eng', 'fra'\), got 'deu'",
    ):
        normalize("Hallo", "deu")


# --- finding and reading the file ------------------------------------------------------------------


def test_the_file_is_found_through_aecourse_data(
    tmp_path, monkeypatch, network_calls
):
    path = write_pairs(tmp_path / "data")
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))
    assert translation_file() == path
    assert read_pairs()[:3] == [
        ("Go.", "Va !"),
        ("Go.", "Marche."),
        ("Hi.", "Salut !"),
    ]
    assert len(read_pairs()) == len(LINES)
    assert network_calls == []


def test_read_pairs_ignores_extra_columns_and_blank_lines_and_names_a_bad_line(
    tmp_path,
):
    path = tmp_path / "pairs.txt"
    path.write_text(
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\n\nHi.\tSalut !\n",
        encoding="utf-8",
    )
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]
    path.write_text("Go.\tVa !\nno tab here\n", encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=r"line 2: expected 'English<TAB>French', got 'no tab here'",
    ):
        read_pairs(path)


def fake_archive(
    content: bytes, member: str = "data/eng-fra.txt"
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, content)
        archive.writestr("data/deu-eng.txt", b"ignored")
    return buffer.getvalue()


def test_download_goes_into_the_cache_never_the_data_folder(
    tmp_path, monkeypatch, cache_dir
):
    data = tmp_path / "data"
    data.mkdir()
    before = snapshot(data)
    monkeypatch.setenv("AECOURSE_DATA", str(data))
    urls = []

    def serve(url, *args, **kwargs):
        urls.append(url)
        return io.BytesIO(fake_archive("\n".join(LINES).encode()))

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    path = translation_file()
    assert urls == [translation.URL]
    assert path == cache_dir / "translation" / "eng-fra.txt"
    assert read_pairs(path)[5] == ("Wow!", "Ça alors !")
    assert snapshot(data) == before
    # the cached copy is used from then on
    assert translation_file() == path and len(urls) == 1
    assert not list(path.parent.glob("*.part"))


@pytest.mark.parametrize("download", [True, False])
def test_no_file_and_no_network_says_what_to_put_where(
    tmp_path, monkeypatch, network_calls, download
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AECOURSE_DATA", str(empty))
    with pytest.raises(DataNotFoundError) as info:
        read_pairs(download=download)
    message = str(info.value)
    for needed in (
        "eng-fra.txt",
        str(empty / "translation"),
        "AECOURSE_DATA",
        "English<TAB>French",
        translation.URL,
    ):
        assert needed in message
    assert (
        ("URLError" in message)
        if download
        else ("downloading is switched off" in message)
    )
    assert network_calls == ([translation.URL] if download else [])
    assert list(empty.iterdir()) == []


def test_a_broken_download_gives_the_same_clear_error(
    tmp_path, monkeypatch, cache_dir
):
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, *a, **k: io.BytesIO(
            fake_archive(b"x", "data/other.txt")
        ),
    )
    with pytest.raises(
        DataNotFoundError, match="(?s)KeyError.*AECOURSE_DATA"
    ):
        translation_file()
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, *a, **k: io.BytesIO(b"not a zip file"),
    )
    with pytest.raises(DataNotFoundError, match="BadZipFile"):
        translation_file()
    assert not (cache_dir / "translation" / "eng-fra.txt").exists()


# --- filtering and splitting -----------------------------------------------------------------------


def test_prepare_pairs_normalises_and_keeps_short_pairs():
    raw = [tuple(line.split("\t")) for line in LINES]
    pairs = prepare_pairs(raw, max_tokens=4)
    assert pairs[:3] == [
        ("go .", "va !"),
        ("go .", "marche ."),
        ("hi .", "salut !"),
    ]
    assert ("i 'm tired .", "je suis fatigué .") in pairs and (
        "i 'm tired .",
        "je suis las .",
    ) in pairs
    expected = [
        (normalize(e, "eng"), normalize(f, "fra")) for e, f in raw
    ]
    assert pairs == [
        (e, f)
        for e, f in expected
        if len(e.split()) <= 4 and len(f.split()) <= 4
    ]
    assert len(prepare_pairs(raw, max_tokens=20)) == len(raw)
    # every sentence has a word and a punctuation mark
    assert prepare_pairs(raw, max_tokens=1) == []
    assert prepare_pairs(
        [("I'm here.", "I'm here.")], 5, ("eng", "eng")
    ) == [("i 'm here .", "i 'm here .")]
    with pytest.raises(ValueError, match="max_tokens must be at least 1"):
        prepare_pairs(raw, max_tokens=0)
    with pytest.raises(ValueError, match="language must be one of"):
        prepare_pairs(raw, 5, ("eng", "de"))


def test_split_keeps_every_pair_and_no_english_sentence_in_two_splits():
    pairs = prepare_pairs(
        [tuple(line.split("\t")) for line in many_lines(3000)],
        max_tokens=10,
    )
    train, valid, test = split_pairs(pairs, valid=0.1, test=0.2, seed=0)
    assert Counter(train + valid + test) == Counter(pairs)
    english = [{e for e, _ in split} for split in (train, valid, test)]
    assert (
        not english[0] & english[1]
        and not english[0] & english[2]
        and not english[1] & english[2]
    )
    n = sum(map(len, english))
    for got, fraction in ((len(english[1]), 0.1), (len(english[2]), 0.2)):
        assert abs(got / n - fraction) < 5 * math.sqrt(
            fraction * (1 - fraction) / n
        )
    # translations of one sentence stay together: 1000 sentences have two
    assert sum(1 for e, _ in pairs if e in english[2]) > len(english[2])


def test_split_is_reproducible_and_each_sentence_keeps_its_split():
    pairs = prepare_pairs(
        [tuple(line.split("\t")) for line in many_lines(600)],
        max_tokens=10,
    )
    assert split_pairs(pairs, seed=3) == split_pairs(pairs, seed=3)
    assert split_pairs(pairs, seed=3) != split_pairs(pairs, seed=4)
    # a sentence's split does not depend on the other pairs: half the data gives the same assignment
    half = pairs[::2]
    for whole, part in zip(
        split_pairs(pairs, seed=3), split_pairs(half, seed=3)
    ):
        assert set(part) <= set(whole)
    train, valid, test = split_pairs(pairs, valid=0.0, test=0.0)
    assert train == pairs and valid == test == []


@pytest.mark.parametrize(
    "valid, test", [(-0.1, 0.1), (0.1, -0.1), (0.5, 0.5), (0.9, 0.2)]
)
def test_split_refuses_bad_fractions(valid, test):
    with pytest.raises(ValueError, match="valid \\+ test < 1"):
        split_pairs([("a .", "b .")], valid=valid, test=test)


# --- vocabularies and tensors ----------------------------------------------------------------------


def test_vocab_orders_by_count_then_alphabet_and_drops_rare_tokens():
    sentences = ["the cat sat .", "the dog sat .", "a cat !", "the end ."]
    vocab = Vocab.build(sentences)
    assert vocab.tokens == [
        *SPECIALS,
        ".",
        "the",
        "cat",
        "sat",
        "!",
        "a",
        "dog",
        "end",
    ]
    assert len(vocab) == 12 and vocab.index["<pad>"] == PAD_INDEX == 0
    assert Vocab.build(sentences, min_count=2).tokens == [
        *SPECIALS,
        ".",
        "the",
        "cat",
        "sat",
    ]
    assert repr(vocab) == "Vocab(12 tokens: . the cat sat ! ...)"
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        Vocab.build(sentences, min_count=0)
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match="not repeat"):
        Vocab([*SPECIALS, "a", "a"])


def test_vocab_round_trip_with_unknown_words_and_eos():
    vocab = Vocab.build(["je suis là .", "tu es là ."])
    indices = vocab.encode("tu es là .")
    assert indices[-1] == EOS_INDEX and len(indices) == 5
    assert vocab.decode(indices) == "tu es là ."
    assert vocab.encode("je suis ici .") == [
        vocab.index["je"],
        vocab.index["suis"],
        UNK_INDEX,
        vocab.index["."],
        EOS_INDEX,
    ]
    assert (
        vocab.decode(vocab.encode("je suis ici .")) == "je suis <unk> ."
    )
    # decode skips <pad> and <sos>, stops at the first <eos>, and takes tensors
    assert (
        vocab.decode(
            torch.tensor(
                [
                    1,
                    vocab.index["tu"],
                    0,
                    vocab.index["es"],
                    EOS_INDEX,
                    vocab.index["là"],
                ]
            )
        )
        == "tu es"
    )


def test_to_tensor_pads_and_counts_eos():
    vocab = Vocab.build(["a b c", "a"])
    indices, lengths = to_tensor(["a b c", "a", "b z"], vocab)
    a, b, c = vocab.index["a"], vocab.index["b"], vocab.index["c"]
    assert indices.tolist() == [
        [a, b, c, EOS_INDEX],
        [a, EOS_INDEX, PAD_INDEX, PAD_INDEX],
        [b, UNK_INDEX, EOS_INDEX, PAD_INDEX],
    ]
    assert lengths.tolist() == [4, 2, 3]
    assert indices.dtype == lengths.dtype == torch.int64
    assert to_tensor(["a"], vocab, device="cpu")[
        0
    ].device == torch.device("cpu")
    with pytest.raises(ValueError, match="at least one sentence"):
        to_tensor([], vocab)


# --- load_translation ------------------------------------------------------------------------------


def test_load_translation_on_a_small_file(tmp_path, monkeypatch):
    write_pairs(tmp_path / "data", LINES + many_lines(400))
    before = snapshot(tmp_path / "data")
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))
    data = load_translation(max_tokens=8, min_count=1, seed=1)
    assert data.task == "translation" and "train" in repr(data)
    assert snapshot(tmp_path / "data") == before
    for pairs in (data.train, data.valid, data.test):
        assert pairs.src.shape == (
            len(pairs),
            pairs.src_lengths.max(),
        ) and pairs.tgt.shape[0] == len(pairs)
        for i in range(
            0, len(pairs), 7
        ):  # the tensors hold the sentences, words unseen in training as <unk>
            for vocab, tensor, sentence in (
                (data.src_vocab, pairs.src, pairs.source),
                (data.tgt_vocab, pairs.tgt, pairs.target),
            ):
                known = " ".join(
                    w if w in vocab.index else "<unk>"
                    for w in sentence[i].split()
                )
                assert vocab.decode(tensor[i]) == known
            assert (
                pairs.src_lengths[i] == len(pairs.source[i].split()) + 1
            )
            assert (
                pairs.tgt_lengths[i] == len(pairs.target[i].split()) + 1
            )
    train_english = set(data.train.source)
    assert not train_english & set(
        data.test.source
    ) and not train_english & set(data.valid.source)
    # vocabularies from the training pairs only
    assert set(data.src_vocab.tokens[4:]) == {
        w for s in data.train.source for w in s.split()
    }
    assert set(data.tgt_vocab.tokens[4:]) == {
        w for s in data.train.target for w in s.split()
    }
    assert data.train.src.max() < len(
        data.src_vocab
    ) and data.train.tgt.max() < len(data.tgt_vocab)
    assert (
        data.train.src != UNK_INDEX
    ).all()  # min_count=1: every training word is known
    # the autoencoder: unique English sentences, each its own target; a sentence keeps its split
    auto = load_translation(
        "autoencoder", max_tokens=8, min_count=1, seed=1
    )
    assert auto.src_vocab is auto.tgt_vocab
    assert (
        torch.equal(auto.train.src, auto.train.tgt)
        and auto.train.source == auto.train.target
    )
    assert len(set(auto.train.source)) == len(auto.train.source)
    assert (
        set(data.test.source) <= set(auto.test.source)
        and not set(auto.test.source) & train_english
    )


def test_load_translation_can_keep_a_random_subset_of_the_training_pairs(
    tmp_path, monkeypatch
):
    write_pairs(tmp_path, LINES + many_lines(400))
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path))
    whole = load_translation(max_tokens=8, min_count=1, seed=1)
    part = load_translation(
        max_tokens=8, min_count=1, seed=1, train_size=50
    )
    pairs = list(zip(part.train.source, part.train.target))
    assert len(pairs) == 50 and set(pairs) <= set(
        zip(whole.train.source, whole.train.target)
    )
    # a sample, not the (shortest) head
    assert pairs != list(zip(whole.train.source, whole.train.target))[:50]
    assert (
        part.valid.source == whole.valid.source
        and part.test.source == whole.test.source
    )
    assert set(part.src_vocab.tokens[4:]) == {
        w for s in part.train.source for w in s.split()
    }
    assert (
        load_translation(
            max_tokens=8, min_count=1, seed=1, train_size=50
        ).train.source
        == part.train.source
    )
    assert (
        load_translation(
            max_tokens=8, min_count=1, seed=1, train_size=10**6
        ).train.source
        == whole.train.source
    )


def test_load_translation_refuses_bad_arguments(tmp_path, monkeypatch):
    write_pairs(tmp_path, LINES)
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="task must be one of"):
        load_translation("summarisation")
    with pytest.raises(ValueError, match="A split is empty"):
        # 12 lines leave no validation or test sentence
        load_translation(max_tokens=2)
    with pytest.raises(ValueError, match="train_size must be at least 1"):
        load_translation(train_size=0)


@pytest.mark.skipif(
    not SHARED_PAIRS.is_file(),
    reason="the shared eng-fra.txt is not here",
)
def test_the_real_pairs(monkeypatch):
    monkeypatch.setenv("AECOURSE_DATA", str(SHARED_PAIRS.parents[1]))
    before = snapshot(SHARED_PAIRS.parent)
    data = load_translation(max_tokens=4, min_count=1)
    pairs = set(
        zip(
            data.train.source + data.valid.source + data.test.source,
            data.train.target + data.valid.target + data.test.target,
        )
    )
    assert {("go .", "va !"), ("wow !", "ça alors !")} <= pairs
    assert (
        len(data.train) > 4000
        and len(data.valid) > 400
        and len(data.test) > 400
    )
    assert not set(data.train.source) & set(data.test.source)
    # 4 tokens and <eos>
    assert data.train.src.shape[1] == data.train.tgt.shape[1] == 5
    assert snapshot(SHARED_PAIRS.parent) == before
