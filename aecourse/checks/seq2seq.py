"""Checkers of the sequence to sequence chapter's exercises: the padding-masked loss, attention over a
padded batch and greedy decoding."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from aecourse.checks._verdict import (
    _call,
    _count,
    _known_slip,
    _seeded,
    _verdict,
    exercise,
)
from aecourse.data.translation import EOS_INDEX, PAD_INDEX, SOS_INDEX


@exercise("ex-masked-loss")
def check_masked_loss(fn: Callable) -> bool:
    """fn(logits, targets, pad_index) -> scalar: the cross-entropy averaged over the real target tokens.

    logits (N, T, V); targets (N, T), each sentence padded with pad_index after its last token; the
    padding positions are left out of the mean.
    """
    g = torch.Generator().manual_seed(9)
    lengths = torch.tensor([7, 2, 5, 1, 4, 7])
    # t != v, so class and time dimensions cannot be confused unnoticed
    n, t, v = (len(lengths), 7, 11)
    real = torch.arange(t) < lengths[:, None]
    for pad_index in (0, 3):  # 3 catches a hard-coded 0
        logits = 2 * torch.randn(
            n, t, v, generator=g, dtype=torch.float64
        )
        targets = torch.randint(0, v - 1, (n, t), generator=g)
        targets[targets >= pad_index] += (
            1  # real tokens are never the padding index
        )
        targets[~real] = pad_index
        answer, problem = _call(
            fn, logits.clone(), targets.clone(), pad_index
        )
        if problem:
            return _verdict(False, problem)
        if not isinstance(answer, torch.Tensor) or answer.dim() != 0:
            got = (
                f"shape {tuple(answer.shape)}"
                if isinstance(answer, torch.Tensor)
                else type(answer).__name__
            )
            return _verdict(
                False,
                "return one number as a 0-dimensional tensor (it is what .backward() "
                f"starts from), got {got}.",
            )
        per_token = F.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), reduction="none"
        ).view(n, t)
        expected = (per_token * real).sum() / real.sum()
        if torch.isclose(answer.detach().double(), expected, rtol=1e-6):
            continue
        slips = [
            (
                per_token.mean(),
                "the padding positions count in your mean: leave out every target equal to "
                "pad_index (multiply by a mask, or F.cross_entropy(..., ignore_index=pad_index)).",
            ),
            (
                per_token.sum() / real.sum(),
                "padding positions still add to your sum: mask them out before "
                "summing.",
            ),
            (
                (per_token * real).sum() / real.numel(),
                "you divided by every position, padding included: "
                "divide by the number of real target tokens, mask.sum().",
            ),
            (
                (per_token * real).sum(),
                "you summed: take the mean over the real target tokens.",
            ),
            (
                (per_token * real).sum() / n,
                "you summed over each sentence and averaged over sentences: take "
                "the mean over all real target tokens, so that every token weighs the same.",
            ),
            (
                ((per_token * real).sum(1) / real.sum(1)).mean(),
                "you averaged each sentence first, so the "
                "tokens of short sentences weigh more: take one mean over all real target tokens of the batch.",
            ),
        ]
        if pad_index != 0:
            ignored_zero = F.cross_entropy(
                logits.flatten(0, 1), targets.flatten(), ignore_index=0
            )
            slips.append(
                (
                    ignored_zero,
                    "you ignored index 0, but here the padding index is 3: use the "
                    "pad_index argument.",
                )
            )
        got = answer.detach().double()
        if slip := _known_slip(
            slips,
            lambda wrong: torch.isclose(got, wrong, rtol=1e-6),  # noqa: B023 (matched at once)
        ):
            return _verdict(False, slip)
        return _verdict(
            False,
            f"with pad_index={pad_index} your loss is {answer.item():.5g}, the reference "
            f"{expected.item():.5g}: the mean of −log p(target) over the real target tokens.",
        )
    return _verdict(
        True,
        "the mean cross-entropy over the real target tokens, padding left out, as "
        "F.cross_entropy(..., ignore_index=pad_index) computes it.",
    )


def _greedy_variant(
    model,
    src,
    lengths,
    max_len: int,
    carry_hidden: bool = True,
    feed_back: bool = True,
) -> torch.Tensor:
    """Greedy decoding as a slip makes it: the hidden state not carried on, or the prediction not fed back."""
    memory = model.encode(src, lengths)
    hidden, tokens, out = (
        memory.code,
        torch.full((len(src),), SOS_INDEX),
        [],
    )
    for _ in range(max_len):
        logits, new_hidden, _ = model.decoder.step(tokens, hidden, memory)
        hidden = new_hidden if carry_hidden else memory.code
        out.append(logits.argmax(1))
        tokens = out[-1] if feed_back else tokens
    return torch.stack(out, 1)


@exercise("ex-greedy-decode")
def check_greedy_decode(fn: Callable) -> bool:
    """fn(model, src, src_lengths, max_len) -> (N, L) token indices, L <= max_len: greedy decoding.

    Start from ``<sos>`` with the code (``model.encode(src, src_lengths).code``) as the hidden state; at
    each step ``model.decoder.step(tokens, hidden, memory)`` gives the logits, the most probable token is
    written and fed back. Each row is compared up to its first ``<eos>``; what follows does not matter.
    """
    # Here, not at the top: the model and the reference decoder bring the training loop and sacrebleu.
    from aecourse.evaluation.decoding import (
        greedy_decode,
    )  # the reference
    from aecourse.models.seq2seq import Seq2Seq

    # A tiny fixed model, built with a seed of its own so that the notebook's random stream is left as it was.
    with _seeded(21):
        model = Seq2Seq(
            12, 9, embed_size=8, hidden_size=16, attention=True
        ).eval()
        src = torch.randint(4, 12, (6, 7))
    lengths = torch.tensor([7, 3, 1, 5, 2, 6])
    src[torch.arange(7) >= lengths[:, None]] = PAD_INDEX
    with torch.no_grad():
        for p in model.parameters():
            p *= 2.0  # larger weights: outputs that depend on the input and on every step taken
        # A trained model never writes <pad> or <sos>; with <eos> a little likelier, the six sentences end
        # after 3, 3, 4 and 7 tokens (<eos> included) or not within max_len, so stopping too soon or too
        # late shows.
        model.decoder.out.bias[PAD_INDEX] = model.decoder.out.bias[
            SOS_INDEX
        ] = -30.0
        model.decoder.out.bias[EOS_INDEX] += 1.0
    max_len = 8
    answer, problem = _call(
        fn, model, src.clone(), lengths.clone(), max_len
    )
    if problem:
        return _verdict(False, problem)
    if (
        not isinstance(answer, torch.Tensor)
        or answer.dim() != 2
        or len(answer) != len(src)
    ):
        got = (
            f"shape {tuple(answer.shape)}"
            if isinstance(answer, torch.Tensor)
            else type(answer).__name__
        )
        return _verdict(
            False,
            f"return a ({len(src)}, L) tensor of token indices, one row per sentence; got "
            f"{got}.",
        )
    if answer.dtype.is_floating_point:
        return _verdict(
            False,
            "return token indices (integers, e.g. logits.argmax(-1)), not floats.",
        )
    if len(answer[0]) and (answer[:, 0] == SOS_INDEX).all():
        return _verdict(
            False,
            "leave out the <sos> you start from: the first output is the first predicted "
            "token.",
        )
    if answer.shape[1] > max_len:
        return _verdict(
            False,
            f"your rows have {_count(answer.shape[1], 'token')}: stop after at most max_len = "
            f"{max_len}.",
        )

    def until_eos(row) -> list[int]:
        row = row.tolist()
        return (
            row[: row.index(EOS_INDEX) + 1] if EOS_INDEX in row else row
        )

    expected, _ = greedy_decode(model, src, lengths, max_len)
    got, want = (
        [until_eos(r) for r in answer],
        [until_eos(r) for r in expected],
    )
    if got == want:
        return _verdict(
            True,
            "from <sos>, each most probable token is written and fed back, with the hidden "
            "state carried on, until <eos>.",
        )
    with torch.no_grad():
        slips = [
            (
                _greedy_variant(
                    model, src, lengths, max_len, carry_hidden=False
                ),
                "carry the hidden state on: "
                "each step's new hidden state is the next step's input, not the code again.",
            ),
            (
                _greedy_variant(
                    model, src, lengths, max_len, feed_back=False
                ),
                "feed each prediction back in "
                "as the next input token; your decoder reads <sos> at every step.",
            ),
        ]
    if slip := _known_slip(
        slips, lambda wrong: got == [until_eos(r) for r in wrong]
    ):
        return _verdict(False, slip)
    i = next(i for i, (r, w) in enumerate(zip(got, want)) if r != w)
    j = next(
        (j for j, (a, b) in enumerate(zip(got[i], want[i])) if a != b),
        min(len(got[i]), len(want[i])),
    )
    if j == len(got[i]):
        return _verdict(
            False,
            f"sentence {i} stops after {_count(j, 'token')}, before its <eos>: keep decoding each "
            "sentence until it writes <eos> (or max_len tokens).",
        )
    return _verdict(
        False,
        f"sentence {i} differs at position {j}: you wrote {got[i][j]}, greedy decoding "
        f"writes {want[i][j]} (the argmax of the logits).",
    )


@exercise("ex-seq2seq-attention")
def check_attention(fn: Callable) -> bool:
    """fn(scores, mask, outputs) -> (context (N, H), weights (N, S)): one step of attention.

    scores (N, S): the decoder's score of each source position; mask (N, S): True at real tokens, False
    at padding; outputs (N, S, H): the encoder's outputs. The weights are a softmax over each sentence's
    real tokens, 0 at its padding; the context is the weighted sum of the outputs. The reference is
    :meth:`aecourse.models.seq2seq.AttentionDecoder.attend` of a small random decoder, whose scores the
    student's function is given.
    """
    # Here, not at the top: the model brings the training loop.
    from aecourse.models.seq2seq import AttentionDecoder, Memory

    # N = 4 sentences, S = 6 source positions
    lengths = torch.tensor([6, 3, 1, 4])
    with _seeded(22):
        decoder = AttentionDecoder(10, 4, hidden_size=5).double()  # H = 5
        hidden = torch.randn(4, 5, dtype=torch.float64)
        # padded positions hold outputs too, so that weight given to them shows in the context
        outputs = torch.randn(4, 6, 5, dtype=torch.float64)
    mask = torch.arange(6) < lengths[:, None]
    memory = Memory(outputs, mask, outputs[:, 0])
    with torch.no_grad():
        # larger scores: weights far from uniform, so that slips show
        decoder.score.weight *= 4
        scores = decoder.score(
            torch.tanh(
                decoder.query(hidden)[:, None] + decoder.key(outputs)
            )
        ).squeeze(2)
        context, weights = decoder.attend(hidden, memory)
    answer, problem = _call(
        fn, scores.clone(), mask.clone(), outputs.clone()
    )
    if problem:
        return _verdict(False, problem)
    if not (
        isinstance(answer, (tuple, list))
        and len(answer) == 2
        and all(isinstance(t, torch.Tensor) for t in answer)
    ):
        if isinstance(answer, (tuple, list)):
            got = _count(len(answer), "item")
        elif isinstance(answer, torch.Tensor):
            got = f"one tensor of shape {tuple(answer.shape)}"
        else:
            got = type(answer).__name__
        return _verdict(
            False,
            f"return the pair (context, weights), two tensors; got {got}.",
        )
    got_context, got_weights = (t.detach().double() for t in answer)
    if (
        got_context.shape == weights.shape
        and got_weights.shape == context.shape
    ):
        return _verdict(
            False,
            "return (context, weights) in that order: the context (N, H) first, "
            "the weights (N, S) second.",
        )
    if got_weights.shape != weights.shape:
        return _verdict(
            False,
            f"the weights have shape {tuple(got_weights.shape)}, expected (N, S) = "
            f"{tuple(weights.shape)}: one weight per source position of each sentence.",
        )
    if not torch.allclose(got_weights, weights, atol=1e-6):
        slips = [
            (
                scores.masked_fill(~mask, 0).softmax(1),
                "a padded score of 0 still gets a weight, e⁰ = 1 over the sum: fill the padded "
                "scores with float('-inf'), whose exponential is exactly 0.",
            ),
            (
                scores.softmax(1),
                "the padding got weight: set the scores of padded positions to −∞ "
                "(scores.masked_fill(~mask, float('-inf'))) before the softmax.",
            ),
            (
                scores.softmax(1) * mask,
                "you zeroed the padding after the softmax, so the weights of a padded sentence "
                "no longer sum to 1: mask the scores before the softmax.",
            ),
            (
                scores.masked_fill(~mask, float("-inf")).softmax(0),
                "your softmax runs over the batch (dim=0): each sentence's weights are a softmax "
                "over its own source positions (dim=1).",
            ),
            (
                scores.masked_fill(mask, float("-inf")).softmax(1),
                "the mask is True at the real tokens: you gave the weight to the padding.",
            ),
        ]
        if slip := _known_slip(
            slips,
            lambda wrong: torch.allclose(
                got_weights, wrong, atol=1e-6, equal_nan=True
            ),
        ):
            return _verdict(False, slip)
        err = (got_weights - weights).abs().nan_to_num(float("inf")).max()
        return _verdict(
            False,
            f"the weights differ from the reference by up to {err.item():.3g}: softmax over "
            "dim 1 of the scores, with the padded positions set to −∞ first.",
        )
    if got_context.shape != context.shape:
        return _verdict(
            False,
            f"the context has shape {tuple(got_context.shape)}, expected (N, H) = "
            f"{tuple(context.shape)}: one vector per sentence, a weighted sum over the "
            "source positions.",
        )
    if not torch.allclose(got_context, context, atol=1e-6):
        real = mask[..., None]
        means = (
            outputs.mean(1),
            (outputs * real).sum(1) / real.sum(1),
        )
        if any(
            torch.allclose(got_context, mean, atol=1e-6) for mean in means
        ):
            return _verdict(
                False,
                "the context is the weighted sum Σ_j α_j h_j, not the plain mean of the "
                "encoder outputs.",
            )
        return _verdict(
            False,
            f"the context differs from the reference by up to "
            f"{(got_context - context).abs().max().item():.3g}: Σ_j α_j h_j, the outputs "
            "weighted by the attention weights and summed over the source positions (dim 1).",
        )
    return _verdict(
        True,
        "a softmax over each sentence's real tokens, exactly 0 on the padding, and the context "
        "Σ_j α_j h_j, as AttentionDecoder.attend computes them.",
    )
