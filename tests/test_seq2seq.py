"""aecourse.models.seq2seq and the chapter-6 checkers: encoder, decoders and attention against hand-written
references, the masked loss against PyTorch's, and a tiny model that learns to copy in a second."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse import checks
from aecourse.data.translation import (
    EOS_INDEX,
    PAD_INDEX,
    SOS_INDEX,
    Pairs,
)
from aecourse.evaluation.decoding import greedy_decode
from aecourse.models.seq2seq import (
    AttentionDecoder,
    Decoder,
    Encoder,
    Memory,
    Seq2Seq,
    evaluate_seq2seq,
    fit_seq2seq,
    masked_cross_entropy,
)
from aecourse.training import History


def padded_batch(lengths, vocab_size=12, generator=None):
    """Random sentences of the given lengths (the last token <eos>), padded: (N, max length), lengths (N,)."""
    lengths = torch.tensor(lengths)
    src = torch.randint(
        4,
        vocab_size,
        (len(lengths), int(lengths.max())),
        generator=generator,
    )
    positions = torch.arange(src.shape[1])
    src[positions == lengths[:, None] - 1] = EOS_INDEX
    src[positions >= lengths[:, None]] = PAD_INDEX
    return src, lengths


def copy_pairs(
    n: int, generator, words: int = 6, max_words: int = 3
) -> Pairs:
    """The copy task: random sentences of 1..max_words words over a vocabulary of 4 + words, target = source."""
    src, lengths = padded_batch(
        torch.randint(
            2, max_words + 2, (n,), generator=generator
        ).tolist(),
        4 + words,
        generator,
    )
    return Pairs(
        src, lengths, src.clone(), lengths.clone(), [""] * n, [""] * n
    )


# --- encoder -----------------------------------------------------------------------------------------


def test_encoder_code_is_the_final_state_of_each_unpadded_sentence():
    encoder = Encoder(12, embed_size=5, hidden_size=7)
    src, lengths = padded_batch([4, 1, 6, 2])
    memory = encoder(src, lengths)
    assert (
        memory.outputs.shape == (4, 6, 7)
        and memory.code.shape == (4, 7)
        and memory.mask.shape == (4, 6)
    )
    assert memory.mask.tolist()[1] == [
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    for i, n in enumerate(
        lengths.tolist()
    ):  # the reference: the GRU run on the sentence alone, no padding
        outputs, hidden = encoder.gru(
            encoder.embedding(src[i : i + 1, :n])
        )
        torch.testing.assert_close(memory.code[i], hidden[0, 0])
        torch.testing.assert_close(memory.outputs[i, :n], outputs[0])
        assert (memory.outputs[i, n:] == 0).all()
    # more padding changes nothing
    wider = encoder(F.pad(src, (0, 3), value=PAD_INDEX), lengths)
    torch.testing.assert_close(wider.code, memory.code)
    torch.testing.assert_close(wider.outputs[:, :6], memory.outputs)


def test_encoder_refuses_bad_batches():
    encoder = Encoder(12, 4, 6)
    src, lengths = padded_batch([3, 2])
    with pytest.raises(
        ValueError, match=r"src must be a \(N, S\) int64 tensor"
    ):
        encoder(src.float(), lengths)
    with pytest.raises(
        ValueError, match=r"lengths must have shape \(2,\)"
    ):
        encoder(src, lengths[:1])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\]"):
        encoder(src, torch.tensor([4, 2]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\]"):
        encoder(src, torch.tensor([3, 0]))


# --- decoders and attention --------------------------------------------------------------------------


def test_additive_attention_matches_the_formula_and_ignores_padding():
    torch.manual_seed(1)
    decoder = AttentionDecoder(9, embed_size=4, hidden_size=6)
    src, lengths = padded_batch([5, 2, 3])
    memory = Encoder(12, 4, 6)(src, lengths)
    hidden = torch.randn(3, 6)
    context, weights = decoder.attend(hidden, memory)
    assert weights.shape == (3, 5) and context.shape == (3, 6)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert (weights[~memory.mask] == 0).all() and (
        weights[memory.mask] > 0
    ).all()
    W, U, v = decoder.query.weight, decoder.key, decoder.score.weight[0]
    for i, n in enumerate(
        lengths.tolist()
    ):  # score_j = v·tanh(W h + U s_j) over the real positions only
        s = memory.outputs[i, :n]
        scores = torch.stack(
            [v @ torch.tanh(W @ hidden[i] + U(s[j])) for j in range(n)]
        )
        expected = scores.softmax(0)
        torch.testing.assert_close(weights[i, :n], expected)
        torch.testing.assert_close(context[i], expected @ s)
    # what sits in padded positions cannot matter
    noisy = Memory(
        memory.outputs + 100 * (~memory.mask)[..., None],
        memory.mask,
        memory.code,
    )
    torch.testing.assert_close(decoder.attend(hidden, noisy)[0], context)


def test_decoder_steps_are_conditioned_on_the_code():
    decoder = Decoder(9, embed_size=4, hidden_size=6)
    memory = Memory(
        torch.zeros(2, 3, 6),
        torch.ones(2, 3, dtype=torch.bool),
        torch.randn(2, 6),
    )
    tokens, hidden = (
        torch.tensor([SOS_INDEX, SOS_INDEX]),
        torch.zeros(2, 6),
    )
    logits, new_hidden, weights = decoder.step(tokens, hidden, memory)
    assert (
        logits.shape == (2, 9)
        and new_hidden.shape == (2, 6)
        and weights is None
    )
    expected = decoder.gru(
        torch.cat([decoder.embedding(tokens), memory.code], 1), hidden
    )
    torch.testing.assert_close(new_hidden, expected)
    # the code is read at every step, not just the first
    other = memory._replace(code=torch.randn(2, 6))
    assert not torch.allclose(
        decoder.step(tokens, hidden, other)[0], logits
    )


@pytest.mark.parametrize("attention", [True, False])
def test_seq2seq_forward_is_teacher_forcing(attention):
    model = Seq2Seq(
        12, 10, embed_size=5, hidden_size=8, attention=attention
    )
    src, lengths = padded_batch([4, 2, 3])
    tgt, _ = padded_batch([5, 3, 2], vocab_size=10)
    logits = model(src, lengths, tgt)
    assert logits.shape == (3, 5, 10)
    memory = model.encode(src, lengths)
    hidden, token = memory.code, torch.full((3,), SOS_INDEX)
    for t in range(5):  # the reference: step t reads the true token t - 1
        step_logits, hidden, _ = model.decoder.step(token, hidden, memory)
        torch.testing.assert_close(logits[:, t], step_logits)
        token = tgt[:, t]
    changed = tgt.clone()
    # another word at position 2 changes only the later steps
    changed[:, 2] = 4 + (tgt[:, 2] - 3) % 6
    after = model(src, lengths, changed)
    torch.testing.assert_close(after[:, :3], logits[:, :3])
    assert not torch.allclose(after[:, 3:], logits[:, 3:])


def test_seq2seq_refuses_bad_sizes():
    with pytest.raises(ValueError, match="exceed the 4 special tokens"):
        Seq2Seq(4, 10)
    with pytest.raises(ValueError, match="sizes be positive"):
        Seq2Seq(10, 10, hidden_size=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        Seq2Seq(10, 10, dropout=1.0)


# --- loss and training -------------------------------------------------------------------------------


@pytest.mark.parametrize("pad_index", [PAD_INDEX, 3])
def test_masked_cross_entropy_equals_pytorch_ignore_index(pad_index):
    logits = torch.randn(4, 6, 9, requires_grad=True)
    targets, lengths = padded_batch([6, 2, 4, 1], vocab_size=9)
    targets[targets == PAD_INDEX] = pad_index
    loss = masked_cross_entropy(logits, targets, pad_index)
    expected = F.cross_entropy(
        logits.reshape(-1, 9), targets.reshape(-1), ignore_index=pad_index
    )
    torch.testing.assert_close(loss, expected)
    # padding matters
    assert not torch.isclose(
        loss, F.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1))
    )
    (grad,) = torch.autograd.grad(loss, logits)
    assert (grad[targets == pad_index] == 0).all()
    with pytest.raises(
        ValueError,
        match=r"Expected logits \(N, T, V\) and targets \(N, T\)",
    ):
        masked_cross_entropy(logits[:, :5], targets)


def test_evaluate_is_the_mean_per_real_target_token():
    g = torch.Generator().manual_seed(2)
    pairs = copy_pairs(11, g)
    model = Seq2Seq(10, 10, 6, 8)
    expected = masked_cross_entropy(
        model(pairs.src, pairs.src_lengths, pairs.tgt), pairs.tgt
    )
    assert evaluate_seq2seq(model, pairs, batch_size=3) == pytest.approx(
        expected.item(), rel=1e-5
    )
    assert evaluate_seq2seq(
        model, pairs, batch_size=100
    ) == pytest.approx(expected.item(), rel=1e-5)


def test_a_tiny_model_learns_to_copy_short_sequences():
    g = torch.Generator().manual_seed(0)
    train, test = copy_pairs(384, g), copy_pairs(100, g)
    model = Seq2Seq(10, 10, embed_size=16, hidden_size=48, attention=True)
    before = evaluate_seq2seq(model, test)
    history = fit_seq2seq(
        model,
        train,
        test,
        epochs=4,
        batch_size=32,
        lr=1e-2,
        progress=False,
    )
    assert (
        isinstance(history, History)
        and len(history.train) == len(history.valid) == 4
    )
    assert (
        history.valid[-1] < 0.1 * before
        and history.train[-1] < 0.2 * history.train[0]
    )
    assert history.valid[-1] == pytest.approx(
        evaluate_seq2seq(model, test)
    )
    tokens, _ = greedy_decode(
        model, test.src, test.src_lengths, max_len=6
    )
    width = test.tgt.shape[1]
    copied = (
        (
            F.pad(tokens, (0, max(0, width - tokens.shape[1])))[:, :width]
            == test.tgt
        )
        .all(1)
        .float()
        .mean()
    )
    assert copied >= 0.9, (
        f"only {copied:.0%} of the test sentences copied exactly"
    )


def test_fit_keeps_the_weights_of_the_best_validation_epoch():
    g = torch.Generator().manual_seed(1)
    train, valid = copy_pairs(64, g), copy_pairs(32, g)
    torch.manual_seed(0)
    model = Seq2Seq(10, 10, embed_size=8, hidden_size=16, attention=False)
    # a learning rate so large that the validation loss does not just fall
    history = fit_seq2seq(
        model,
        train,
        valid,
        epochs=5,
        batch_size=16,
        lr=0.3,
        keep_best=True,
        progress=False,
    )
    best = min(range(5), key=lambda e: history.valid[e])
    assert history.best_epoch == best + 1
    assert evaluate_seq2seq(model, valid) == pytest.approx(
        history.valid[best], rel=1e-5
    )
    with pytest.raises(ValueError, match="keep_best"):
        fit_seq2seq(
            model, train, epochs=1, keep_best=True, progress=False
        )


def test_fit_clips_gradients_and_shows_progress(monkeypatch, capsys):
    g = torch.Generator().manual_seed(3)
    pairs = copy_pairs(20, g)
    norms = []
    real_clip = nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        nn.utils,
        "clip_grad_norm_",
        lambda params, max_norm: (
            norms.append(max_norm) or real_clip(params, max_norm)
        ),
    )
    model = Seq2Seq(10, 10, 4, 6)
    history = fit_seq2seq(
        model, pairs, epochs=2, batch_size=8, clip=0.5, desc="copying"
    )
    # 3 batches a epoch
    assert (
        norms == [0.5] * 6
        and len(history.train) == 2
        and history.valid == []
    )
    assert "copying" in capsys.readouterr().err
    norms.clear()
    fit_seq2seq(
        model, pairs, epochs=1, batch_size=8, clip=None, progress=False
    )
    assert norms == [] and capsys.readouterr().err == ""


def test_fit_refuses_a_model_on_another_device_and_negative_epochs():
    pairs = copy_pairs(4, torch.Generator().manual_seed(4))
    with pytest.raises(
        ValueError, match="The model is on meta and the data on cpu"
    ):
        fit_seq2seq(
            Seq2Seq(10, 10, 4, 6).to("meta"),
            pairs,
            epochs=1,
            progress=False,
        )
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        fit_seq2seq(
            Seq2Seq(10, 10, 4, 6), pairs, epochs=-1, progress=False
        )


# --- the chapter-6 checkers ----------------------------------------------------------------------------

# The checker-test helpers of tests/test_checks.py (tests/ is on sys.path under pytest's default import mode);
# stubs and crashes are tested there for every checker.
from test_checks import assert_right, assert_wrong  # noqa: E402


@pytest.mark.parametrize(
    "checker", [checks.check_masked_loss, checks.check_greedy_decode]
)
def test_checkers_name_a_wrong_return_type(checker, capsys):
    assert_wrong(checker, lambda *args: "an answer", capsys, "got str")


def test_check_masked_loss(capsys):
    def right(logits, targets, pad_index):
        per_token = F.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), reduction="none"
        ).view_as(targets)
        mask = targets != pad_index
        return (per_token * mask).sum() / mask.sum()

    def per_token(logits, targets):
        return F.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), reduction="none"
        ).view_as(targets)

    def masked_sum(logits, targets, pad_index):
        return (per_token(logits, targets) * (targets != pad_index)).sum()

    check = checks.check_masked_loss
    assert_right(check, right, capsys)
    assert_right(
        check,
        lambda lo, ta, p: F.cross_entropy(
            lo.flatten(0, 1), ta.flatten(), ignore_index=p
        ),
        capsys,
    )
    assert_right(
        check, lambda lo, ta, p: masked_cross_entropy(lo, ta, p), capsys
    )
    assert_wrong(
        check,
        lambda lo, ta, p: per_token(lo, ta).mean(),
        capsys,
        "the padding positions count in your mean",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: per_token(lo, ta).sum() / (ta != p).sum(),
        capsys,
        "mask them out before summing",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: masked_sum(lo, ta, p) / ta.numel(),
        capsys,
        "you divided by every position",
    )
    assert_wrong(check, masked_sum, capsys, "you summed: take the mean")
    assert_wrong(
        check,
        lambda lo, ta, p: masked_sum(lo, ta, p) / len(ta),
        capsys,
        "summed over each sentence",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: (
            (per_token(lo, ta) * (ta != p)).sum(1) / (ta != p).sum(1)
        ).mean(),
        capsys,
        "you averaged each sentence first",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: right(lo, ta, 0),
        capsys,
        "the padding index is 3: use the pad_index argument",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: right(lo, ta, p).item(),
        capsys,
        "0-dimensional tensor",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: per_token(lo, ta),
        capsys,
        "got shape (6, 7)",
    )
    assert_wrong(
        check,
        lambda lo, ta, p: right(lo, ta, p) + 0.1,
        capsys,
        "the reference",
    )
    # (N, T, V) unflattened
    assert_wrong(
        check,
        lambda lo, ta, p: F.cross_entropy(lo, ta, ignore_index=p),
        capsys,
        "raised",
    )


def student_greedy(
    model,
    src,
    src_lengths,
    max_len,
    carry_hidden=True,
    feed_back=True,
    with_sos=False,
    stop_at_first=False,
):
    """Greedy decoding as a student writes it (about ten lines), with switches for the usual slips."""
    memory = model.encode(src, src_lengths)
    hidden, tokens = memory.code, torch.full((len(src),), SOS_INDEX)
    out = [tokens] if with_sos else []
    for _ in range(max_len):
        logits, new_hidden, _ = model.decoder.step(tokens, hidden, memory)
        hidden = new_hidden if carry_hidden else memory.code
        prediction = logits.argmax(-1)
        tokens = prediction if feed_back else tokens
        out.append(prediction)
        if stop_at_first and (prediction == EOS_INDEX).any():
            break
    return torch.stack(out, 1)


def test_check_greedy_decode(capsys):
    check = checks.check_greedy_decode
    assert_right(check, student_greedy, capsys)
    # stopped and padded: also right
    assert_right(
        check, lambda m, s, n, L: greedy_decode(m, s, n, L)[0], capsys
    )
    assert_wrong(
        check,
        lambda *a: student_greedy(*a, carry_hidden=False),
        capsys,
        "carry the hidden state on",
    )
    assert_wrong(
        check,
        lambda *a: student_greedy(*a, feed_back=False),
        capsys,
        "feed each prediction back in",
    )
    assert_wrong(
        check,
        lambda *a: student_greedy(*a, with_sos=True),
        capsys,
        "leave out the <sos>",
    )
    assert_wrong(
        check,
        lambda *a: student_greedy(*a, stop_at_first=True),
        capsys,
        "stops after 3 tokens, before its <eos>",
    )
    assert_wrong(
        check,
        lambda m, s, n, L: student_greedy(m, s, n, L + 1),
        capsys,
        "stop after at most max_len = 8",
    )
    assert_wrong(
        check, lambda *a: student_greedy(*a).float(), capsys, "not floats"
    )
    assert_wrong(
        check,
        lambda *a: student_greedy(*a)[:3],
        capsys,
        "return a (6, L) tensor",
    )
    assert_wrong(
        check, lambda *a: student_greedy(*a).tolist(), capsys, "got list"
    )

    def second_best(
        model, src, src_lengths, max_len
    ):  # a different rule: it differs at some position
        out = student_greedy(model, src, src_lengths, max_len)
        out[4, 1] = 8 if out[4, 1] != 8 else 7
        return out

    assert_wrong(
        check, second_best, capsys, "sentence 4 differs at position 1"
    )


def test_chapter_6_checkers_leave_the_global_random_stream_alone(capsys):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_greedy_decode(student_greedy)
    checks.check_masked_loss(
        lambda lo, ta, p: masked_cross_entropy(lo, ta, p)
    )
    assert torch.equal(torch.rand(3), expected)
    capsys.readouterr()
