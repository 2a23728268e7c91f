"""aecourse.evaluation.decoding: greedy and beam search against step-by-step and brute-force references, BLEU by
sacrebleu, baselines, token accuracy by length, and the code space."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA

from aecourse.data.translation import (
    EOS_INDEX,
    PAD_INDEX,
    SOS_INDEX,
    Vocab,
    to_tensor,
)
from aecourse.evaluation.decoding import (
    attention_examples,
    baseline_translations,
    beam_search,
    bleu,
    encode_sentences,
    greedy_decode,
    group_references,
    nearest_neighbours,
    project_2d,
    token_accuracy_by_length,
    translate,
)
from aecourse.models.seq2seq import Seq2Seq


def sharp_model(
    seed: int,
    attention: bool = True,
    tgt_vocab: int = 9,
    eos_bias: float = 1.0,
) -> Seq2Seq:
    """A random model with weights doubled (outputs that depend on the input) that ends sentences at various lengths."""
    torch.manual_seed(seed)
    model = Seq2Seq(
        12, tgt_vocab, embed_size=8, hidden_size=16, attention=attention
    ).eval()
    with torch.no_grad():
        for p in model.parameters():
            p *= 2.0
        model.decoder.out.bias[EOS_INDEX] += eos_bias
    return model


def batch(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    src = torch.randint(
        4, 12, (len(lengths), int(lengths.max())), generator=g
    )
    src[torch.arange(src.shape[1]) >= lengths[:, None]] = PAD_INDEX
    return src, lengths


def step_by_step(model, src, lengths, max_len):
    """The reference for one sentence at a time: argmax, fed back, until <eos>."""
    rows = []
    for i in range(len(src)):
        memory = model.encode(
            src[i : i + 1, : lengths[i]], lengths[i : i + 1]
        )
        hidden, token, row = memory.code, torch.tensor([SOS_INDEX]), []
        for _ in range(max_len):
            logits, hidden, _ = model.decoder.step(token, hidden, memory)
            token = logits.argmax(1)
            row.append(token.item())
            if row[-1] == EOS_INDEX:
                break
        rows.append(row)
    return rows


def rows(tokens: torch.Tensor) -> list[list[int]]:
    """Token rows cut after their <eos> (the padding after it dropped)."""
    out = []
    for row in tokens.tolist():
        out.append(
            row[: row.index(EOS_INDEX) + 1] if EOS_INDEX in row else row
        )
    return out


# --- greedy decoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", [True, False])
def test_batched_greedy_equals_one_sentence_at_a_time(attention):
    model = sharp_model(21, attention)
    src, lengths = batch([7, 3, 1, 5, 2, 6])
    with torch.no_grad():
        expected = step_by_step(model, src, lengths, max_len=8)
    tokens, weights = greedy_decode(model, src, lengths, max_len=8)
    assert rows(tokens) == expected
    assert tokens.shape[1] == max(map(len, expected)) <= 8
    # both kinds
    assert any(EOS_INDEX in r for r in expected) and any(
        EOS_INDEX not in r for r in expected
    )
    for r, row in zip(
        expected, tokens.tolist()
    ):  # after <eos> only padding
        assert row[len(r) :] == [PAD_INDEX] * (len(row) - len(r))
    if not attention:
        assert weights is None
        return
    assert weights.shape == (6, tokens.shape[1], 7)
    written = torch.tensor(
        [[t < len(r) for t in range(tokens.shape[1])] for r in expected]
    )
    torch.testing.assert_close(
        weights.sum(2)[written], torch.ones(int(written.sum()))
    )
    assert (weights[~written] == 0).all()  # nothing after <eos>
    assert (
        weights.masked_select(
            (torch.arange(7) >= lengths[:, None])[:, None, :]
        )
        == 0
    ).all()  # nor on padding


def test_greedy_stops_when_every_sentence_has_ended():
    model = sharp_model(3, eos_bias=50.0)  # <eos> first, always
    src, lengths = batch([4, 2])
    tokens, weights = greedy_decode(model, src, lengths, max_len=10)
    assert tokens.tolist() == [
        [EOS_INDEX],
        [EOS_INDEX],
    ] and weights.shape == (2, 1, 4)
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        greedy_decode(model, src, lengths, max_len=0)


# --- beam search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seed, attention", [(21, True), (28, True), (5, False)]
)
def test_beam_width_one_is_greedy(seed, attention):
    model = sharp_model(seed, attention)
    src, lengths = batch([7, 3, 1, 5, 2, 6], seed=seed)
    greedy, _ = greedy_decode(model, src, lengths, max_len=8)
    assert torch.equal(
        beam_search(model, src, lengths, beam_width=1, max_len=8), greedy
    )
    assert torch.equal(
        beam_search(
            model, src, lengths, beam_width=1, max_len=8, alpha=1.0
        ),
        greedy,
    )


def log_probabilities(model, src, lengths, paths) -> dict:
    """{path: log p(path | src)} under teacher forcing, for one source sentence: the reference scores."""
    tgt = torch.tensor(
        [p + [PAD_INDEX] * (max(map(len, paths)) - len(p)) for p in paths]
    )
    # step t sees only tokens < t
    logits = model(
        src.expand(len(paths), -1), lengths.expand(len(paths)), tgt
    )
    token_scores = logits.log_softmax(2).gather(2, tgt[:, :, None])[
        :, :, 0
    ]
    return {
        tuple(p): token_scores[i, : len(p)].sum().item()
        for i, p in enumerate(paths)
    }


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
def test_a_wide_beam_finds_the_best_output_of_a_brute_force_search(alpha):
    # 5 tokens besides <eos>: 1 + 5 + 25 + 125 outputs
    model = sharp_model(7, tgt_vocab=6, eos_bias=0.0)
    max_len, others = 3, [0, 1, 3, 4, 5]
    candidates = [
        list(p) + [EOS_INDEX]
        for k in range(max_len)
        for p in itertools.product(others, repeat=k)
    ]
    # unfinished at max_len
    candidates += [
        list(p) for p in itertools.product(others, repeat=max_len)
    ]
    src, lengths = batch([4, 2, 6, 1, 3, 5], seed=1)
    found = rows(
        beam_search(
            model,
            src,
            lengths,
            beam_width=1000,
            max_len=max_len,
            alpha=alpha,
        )
    )
    greedy = rows(greedy_decode(model, src, lengths, max_len)[0])
    for i in range(len(src)):
        with torch.no_grad():
            log_p = log_probabilities(
                model, src[i : i + 1], lengths[i : i + 1], candidates
            )
        scores = {p: lp / len(p) ** alpha for p, lp in log_p.items()}
        assert scores[tuple(found[i])] == pytest.approx(
            max(scores.values()), abs=1e-5
        )
        assert scores[tuple(found[i])] >= scores[tuple(greedy[i])] - 1e-6


def test_length_normalisation_favours_longer_outputs():
    model = sharp_model(21)
    src, lengths = batch([7, 3, 1, 5, 2, 6])
    plain = [
        len(r)
        for r in rows(
            beam_search(model, src, lengths, beam_width=4, max_len=8)
        )
    ]
    normalised = [
        len(r)
        for r in rows(
            beam_search(
                model, src, lengths, beam_width=4, max_len=8, alpha=1.0
            )
        )
    ]
    assert sum(normalised) > sum(plain)
    with pytest.raises(
        ValueError, match="beam_width and max_len must be at least 1"
    ):
        beam_search(model, src, lengths, beam_width=0)


def test_translate_decodes_strings_greedy_or_by_beam():
    src_vocab = Vocab(
        ["<pad>", "<sos>", "<eos>", "<unk>"] + [f"e{i}" for i in range(8)]
    )
    tgt_vocab = Vocab(
        ["<pad>", "<sos>", "<eos>", "<unk>"] + [f"f{i}" for i in range(5)]
    )
    model = sharp_model(21)
    sentences = ["e1 e2 e3", "e4", "e5 e6 unknown e7"]
    src, lengths = to_tensor(sentences, src_vocab)
    greedy = [
        tgt_vocab.decode(r)
        for r in greedy_decode(model, src, lengths, 8)[0]
    ]
    assert (
        translate(
            model,
            sentences,
            src_vocab,
            tgt_vocab,
            max_len=8,
            batch_size=2,
        )
        == greedy
    )
    beam = [
        tgt_vocab.decode(r)
        for r in beam_search(model, src, lengths, 3, 8)
    ]
    assert (
        translate(
            model,
            sentences,
            src_vocab,
            tgt_vocab,
            beam_width=3,
            max_len=8,
        )
        == beam
    )
    assert all(isinstance(s, str) and "<eos>" not in s for s in greedy)


def test_attention_examples_trim_to_the_tokens_read_and_written():
    src_vocab = Vocab(
        ["<pad>", "<sos>", "<eos>", "<unk>"] + [f"e{i}" for i in range(8)]
    )
    tgt_vocab = Vocab(
        ["<pad>", "<sos>", "<eos>", "<unk>"] + [f"f{i}" for i in range(5)]
    )
    model = sharp_model(21)
    sentences = ["e1 e2 e3", "e4", "e5 e6 unknown e7"]
    examples = attention_examples(
        model, sentences, src_vocab, tgt_vocab, max_len=8
    )
    src, lengths = to_tensor(sentences, src_vocab)
    tokens, weights = greedy_decode(model, src, lengths, 8)
    for (source, output, w), sentence, row, full in zip(
        examples, sentences, rows(tokens), weights
    ):
        assert source == [
            t if t in src_vocab.index else "<unk>"
            for t in sentence.split()
        ] + ["<eos>"]
        assert output == [tgt_vocab.tokens[i] for i in row]
        assert w.shape == (len(output), len(source))
        # nothing lost on padding
        assert torch.allclose(w.sum(1), torch.ones(len(output)))
        assert torch.equal(w, full[: len(output), : len(source)])
    with pytest.raises(ValueError, match="attention=True"):
        attention_examples(
            sharp_model(5, attention=False),
            sentences,
            src_vocab,
            tgt_vocab,
        )


# --- BLEU, baselines and accuracy ----------------------------------------------------------------------


def test_bleu_is_sacrebleu_on_our_tokens(caplog):
    assert bleu(
        ["je suis là ."] * 150, ["je suis là ."] * 150
    ) == pytest.approx(100.0)
    # no "forgot to detokenize" warning: our text is tokenised on purpose
    assert caplog.records == []
    refs = ["je suis fatigué .", "il est là .", "qu' est-ce que c' est ?"]
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert bleu(["a b c d"] * 3, refs) == pytest.approx(0.0)
    hyps = [
        "je suis fatiguée .",
        "il est ici .",
        "qu' est-ce que c' était ?",
    ]
    expected = sacrebleu.corpus_bleu(
        hyps, [refs], tokenize="none", force=True
    ).score
    assert (
        bleu(hyps, refs) == pytest.approx(expected) and 0 < expected < 100
    )
    # by hand: 11 of 14 unigrams match, 5/11 bigrams, 2/8 trigrams, 1/5 4-grams; equal lengths, no brevity penalty
    assert bleu(hyps, refs) == pytest.approx(
        100 * (11 / 14 * 5 / 11 * 2 / 8 * 1 / 5) ** 0.25
    )
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        bleu(hyps[:2], refs)
    with pytest.raises(ValueError, match="at least one"):
        bleu([], [])


def test_baselines_and_the_models_that_must_beat_them():
    train_targets = [
        "je suis là .",
        "va !",
        "je suis là .",
        "il est là .",
    ]
    sources = ["i 'm here .", "go !", "tom ."]
    assert (
        baseline_translations(sources, train_targets)
        == ["je suis là ."] * 3
    )
    assert (
        baseline_translations(sources, train_targets, kind="copy")
        == sources
    )
    references = ["je suis là .", "va !", "tom ."]
    assert bleu(references, references) > bleu(
        baseline_translations(sources, train_targets), references
    )
    with pytest.raises(
        ValueError, match="kind must be 'frequent' or 'copy'"
    ):
        baseline_translations(sources, train_targets, kind="random")
    with pytest.raises(
        ValueError, match="needs the training target sentences"
    ):
        baseline_translations(sources, [])


def test_token_accuracy_by_length_by_hand():
    target = torch.tensor(
        [[5, 6, 2, 0], [5, 2, 0, 0], [7, 8, 9, 2], [6, 2, 0, 0]]
    )
    lengths = torch.tensor([3, 2, 4, 2])
    # narrower than target: padded
    predicted = torch.tensor([[5, 7, 2], [5, 2, 9], [7, 8, 2], [6, 5, 2]])
    accuracy = token_accuracy_by_length(predicted, target, lengths)
    assert accuracy == pytest.approx({1: 3 / 4, 2: 2 / 3, 3: 2 / 4})
    assert list(accuracy) == [1, 2, 3]
    # tokens past the target's length do not count
    wide = F.pad(target, (0, 3), value=4)
    assert token_accuracy_by_length(
        wide, target, lengths
    ) == pytest.approx({1: 1.0, 2: 1.0, 3: 1.0})
    with pytest.raises(
        ValueError, match="one prediction and one length per target"
    ):
        token_accuracy_by_length(predicted[:3], target, lengths)


# --- the code space ------------------------------------------------------------------------------------


def test_codes_neighbours_and_projection():
    model = sharp_model(21)
    src, lengths = batch([7, 3, 1, 5, 2, 6, 4, 4, 3])
    codes = encode_sentences(model, src, lengths, batch_size=4)
    with torch.no_grad():
        torch.testing.assert_close(codes, model.encode(src, lengths).code)
    index, similarity = nearest_neighbours(codes, [0, 5], k=3)
    assert index.shape == similarity.shape == (2, 3)
    for q, row, sims in zip([0, 5], index.tolist(), similarity.tolist()):
        c = codes.numpy()
        cosines = (
            c @ c[q] / np.linalg.norm(c, axis=1) / np.linalg.norm(c[q])
        )
        cosines[q] = -np.inf
        assert row == np.argsort(-cosines)[:3].tolist() and q not in row
        assert sims == pytest.approx(cosines[row].tolist(), abs=1e-5)
    assert nearest_neighbours(codes, 2, k=1)[0].shape == (1, 1)
    with pytest.raises(
        ValueError, match="k must be between 1 and N − 1 = 8"
    ):
        nearest_neighbours(codes, [0], k=9)
    flat = project_2d(codes)
    reference = PCA(n_components=2).fit_transform(codes.double().numpy())
    assert flat.shape == (9, 2)
    for j in range(2):  # the same components, up to sign
        assert (
            min(
                np.abs(flat[:, j].numpy() - s * reference[:, j]).max()
                for s in (1, -1)
            )
            < 1e-4
        )
    with pytest.raises(
        ValueError, match=r"Need codes \(N, H\) with N >= 2"
    ):
        project_2d(codes[:1])


# --- the batched beam search against one sentence at a time ---------------------------------------------


def one_sentence_beam(model, src, lengths, width, max_len, alpha):
    """Beam search for one sentence, written as plainly as possible: the reference for the batched one."""
    memory = model.encode(src, lengths)
    paths, scores = [[]], torch.zeros(1)
    hidden, tokens = memory.code, torch.full((1,), SOS_INDEX)
    finished = []  # (normalised score, path), in the order they finish
    alive = []
    for _ in range(max_len):
        logits, hidden, _ = model.decoder.step(
            tokens, hidden, memory.select(torch.zeros_like(tokens))
        )
        total = (scores[:, None] + logits.log_softmax(dim=1)).flatten()
        top, index = total.topk(min(width, total.numel()))
        vocab = logits.shape[1]
        alive = []
        for score, i in zip(top.tolist(), index.tolist()):
            beam, word = divmod(i, vocab)
            path = paths[beam] + [word]
            if word == EOS_INDEX:
                finished.append((score / len(path) ** alpha, path))
            else:
                alive.append((score, beam, path))
        if not alive or len(finished) >= width:
            break
        hidden = hidden[torch.tensor([b for _, b, _ in alive])]
        paths = [p for _, _, p in alive]
        scores = torch.tensor([s for s, _, _ in alive])
        tokens = torch.tensor([p[-1] for p in paths])
    else:  # max_len reached: unfinished paths compete too
        finished += [(s / len(p) ** alpha, p) for s, _, p in alive]
    return max(finished, key=lambda f: f[0])[1]


@pytest.mark.parametrize(
    "seed, attention, width, alpha",
    [
        (21, True, 3, 0.0),
        (28, True, 5, 1.0),
        (5, False, 2, 0.5),
        (7, False, 4, 1.0),
    ],
)
def test_the_batched_beam_search_is_the_one_sentence_search(
    seed, attention, width, alpha
):
    model = sharp_model(seed, attention, eos_bias=0.5)
    src, lengths = batch([7, 3, 1, 5, 2, 6, 4, 4], seed=seed)
    found = rows(
        beam_search(model, src, lengths, width, max_len=6, alpha=alpha)
    )
    with torch.no_grad():
        expected = [
            one_sentence_beam(
                model, src[i : i + 1], lengths[i : i + 1], width, 6, alpha
            )
            for i in range(len(src))
        ]
    assert found == expected


# --- several references ----------------------------------------------------------------------------------


def test_group_references_gathers_each_sources_translations():
    sources = ["go .", "hi .", "go .", "go .", "run !"]
    targets = ["va !", "salut !", "marche .", "va !", "cours !"]
    assert group_references(sources, targets) == (
        ["go .", "hi .", "run !"],
        [["va !", "marche ."], ["salut !"], ["cours !"]],
    )
    with pytest.raises(ValueError, match="one target per source"):
        group_references(sources, targets[:2])


def test_bleu_with_several_references_by_hand():
    hyps = ["il est là .", "je suis très fatigué ."]
    refs = [["il est ici .", "il est là !"], ["je suis très fatigué ."]]
    # n-grams matched against the better reference, clipped by its count:
    # "il est là ." 4/4, 2/3, 1/2, 0/1; the second sentence 5/5, 4/4, 3/3, 2/2;
    # hypothesis and closest reference lengths are equal: no brevity penalty
    expected = 100 * (9 / 9 * 6 / 7 * 4 / 5 * 2 / 3) ** 0.25
    assert bleu(hyps, refs) == pytest.approx(expected)
    # the order of the references does not matter; one reference scores lower
    assert bleu(hyps, [refs[0][::-1], refs[1]]) == pytest.approx(expected)
    one = 100 * (8 / 9 * 5 / 7 * 3 / 5 * 2 / 3) ** 0.25
    assert bleu(hyps, [refs[0][0], refs[1][0]]) == pytest.approx(one)
    assert bleu(hyps, [[refs[0][0]], refs[1]]) == pytest.approx(one)
    # sacrebleu's own streams, the shorter one padded with None
    assert bleu(hyps, refs) == pytest.approx(
        sacrebleu.corpus_bleu(
            hyps,
            [[refs[0][0], refs[1][0]], [refs[0][1], None]],
            tokenize="none",
            force=True,
        ).score
    )
    with pytest.raises(ValueError, match="at least one reference"):
        bleu(hyps, [[], refs[1]])


def test_an_empty_string_is_not_a_missing_reference():
    # why the streams are padded with None: sacrebleu counts "" as a reference of length 0, the closest
    # to a one-token hypothesis, which drops the brevity penalty; None it skips
    hyps, refs = ["là"], ["il est là ."]

    def stats(second):
        return sacrebleu.corpus_bleu(
            hyps, [refs, [second]], tokenize="none", force=True
        )

    assert stats(None).ref_len == 4 and stats("").ref_len == 0
    assert stats(None).bp < stats("").bp == 1.0
