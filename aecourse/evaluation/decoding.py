"""Decoding and judging the sequence-to-sequence models of the translation chapter: greedy decoding, beam
search, BLEU, trivial baselines, token accuracy of reconstructions, and the code space (nearest
neighbours, 2-D map).

The models are :class:`aecourse.models.seq2seq.Seq2Seq`; every decoder here drives ``model.decoder.step`` one
token at a time from ``<sos>``, starting from the code as the first hidden state, until ``<eos>``.
BLEU is sacrebleu's corpus BLEU (Papineni et al. 2002; Post 2018), not a home-made one, against every
reference translation of a sentence (:func:`group_references`).
"""

from __future__ import annotations

from collections import Counter

import sacrebleu
import torch
import torch.nn.functional as F

from aecourse.data.translation import (
    EOS_INDEX,
    PAD_INDEX,
    SOS_INDEX,
    Vocab,
    to_tensor,
)
from aecourse.models.seq2seq import Seq2Seq
from aecourse.training import batches


@torch.no_grad()
def greedy_decode(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_len: int = 20,
):
    """Decode a batch by always taking the most probable next token, until ``<eos>`` or max_len tokens.

    src (N, S), src_lengths (N,) -> tokens (N, L) with L <= max_len, each row ending at its ``<eos>``
    (kept) and padded after it; weights (N, L, S), the attention of each output token over the source
    (0 after ``<eos>``), or None for a decoder without attention.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}.")
    model.eval()
    memory = model.encode(src, src_lengths)
    hidden, tokens = (
        memory.code,
        torch.full((len(src),), SOS_INDEX, device=src.device),
    )
    done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
    outputs, weights = [], []
    for _ in range(max_len):
        logits, hidden, step_weights = model.decoder.step(
            tokens, hidden, memory
        )
        # finished rows only pad
        tokens = logits.argmax(dim=1).masked_fill(done, PAD_INDEX)
        outputs.append(tokens)
        if step_weights is not None:
            weights.append(step_weights.masked_fill(done[:, None], 0.0))
        done = done | (tokens == EOS_INDEX)
        if done.all():
            break
    return torch.stack(outputs, dim=1), torch.stack(
        weights, dim=1
    ) if weights else None


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    beam_width: int = 5,
    max_len: int = 20,
    alpha: float = 0.0,
) -> torch.Tensor:
    """Decode each sentence keeping the ``beam_width`` most probable partial outputs at every step.

    The score of an output y is log p(y | x) / |y|^alpha (|y| counts ``<eos>``): alpha = 0 is the plain
    log-probability, which favours short outputs; alpha = 1 is the mean log-probability per token. At
    each step the beam_width best extensions of the live hypotheses are taken; one ending in ``<eos>``
    leaves the beam finished, the others stay. A sentence's search stops when beam_width hypotheses have
    finished or none is left, or at max_len, where the unfinished ones compete too. Width 1 is greedy
    decoding. All sentences of the batch are searched at once, each with its own beam_width rows.
    src (N, S), src_lengths (N,) -> tokens (N, L) as from :func:`greedy_decode`.
    """
    if beam_width < 1 or max_len < 1:
        raise ValueError(
            f"beam_width and max_len must be at least 1, got {beam_width} and {max_len}."
        )
    model.eval()
    n, width, device = len(src), beam_width, src.device
    memory = model.encode(src, src_lengths).select(
        torch.arange(n, device=device).repeat_interleave(width)
    )  # each sentence once per beam
    hidden = memory.code  # (N * B, H)
    tokens = torch.full((n * width,), SOS_INDEX, device=device)
    # log p of each live hypothesis, (N, B); -inf marks an empty slot
    scores = torch.full((n, width), -float("inf"), device=device)
    scores[:, 0] = 0.0  # one empty hypothesis to start from
    paths = torch.zeros((n, width, 0), dtype=torch.int64, device=device)
    best = torch.full((n,), -float("inf"), device=device)
    best_path = torch.full(
        (n, max_len), PAD_INDEX, dtype=torch.int64, device=device
    )
    best_length = torch.zeros(n, dtype=torch.int64, device=device)
    finished = torch.zeros(n, dtype=torch.int64, device=device)
    searching = torch.ones(n, dtype=torch.bool, device=device)
    rows = torch.arange(n, device=device)
    for t in range(max_len):
        logits, hidden, _ = model.decoder.step(tokens, hidden, memory)
        vocab = logits.shape[1]
        total = scores[:, :, None] + logits.log_softmax(dim=1).view(
            n, width, vocab
        )  # every beam x every next token
        top, index = total.flatten(1).topk(width, dim=1)
        beam, word = index // vocab, index % vocab
        real = top.isfinite() & searching[:, None]
        ends = real & (word == EOS_INDEX)
        paths = torch.cat(
            [paths[rows[:, None], beam], word[:, :, None]], dim=2
        )
        # the best hypothesis finished at this step, if better than before
        normalised = (top / (t + 1) ** alpha).masked_fill(
            ~ends, -float("inf")
        )
        step_best, which = normalised.max(dim=1)
        better = step_best > best
        best = torch.where(better, step_best, best)
        best_path[better, : t + 1] = paths[rows, which][better]
        best_length[better] = t + 1
        finished += ends.sum(dim=1)
        alive = real & ~ends
        scores = top.masked_fill(~alive, -float("inf"))
        searching = searching & alive.any(dim=1) & (finished < width)
        if not searching.any():
            break
        hidden = hidden.view(n, width, -1)[rows[:, None], beam].flatten(
            0, 1
        )
        tokens = word.flatten()
    else:  # max_len reached: the unfinished hypotheses compete too
        normalised = (scores / max_len**alpha).masked_fill(
            ~searching[:, None], -float("inf")
        )
        step_best, which = normalised.max(dim=1)
        better = step_best > best
        best_path[better] = paths[rows, which][better]
        best_length[better] = max_len
    return best_path[:, : int(best_length.max())]


def translate(
    model: Seq2Seq,
    sentences: list[str],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    beam_width: int = 1,
    max_len: int = 20,
    alpha: float = 0.0,
    batch_size: int = 256,
) -> list[str]:
    """Normalised source sentences (e.g. ``pairs.source``) -> decoded target sentences, without ``<eos>``.

    Greedy when beam_width is 1, else :func:`beam_search`. Unknown source words become ``<unk>``.
    """
    device = next(model.parameters()).device
    decoded = []
    for start in range(0, len(sentences), batch_size):
        src, lengths = to_tensor(
            sentences[start : start + batch_size], src_vocab, device
        )
        if beam_width == 1:
            tokens, _ = greedy_decode(model, src, lengths, max_len)
        else:
            tokens = beam_search(
                model, src, lengths, beam_width, max_len, alpha
            )
        decoded += [tgt_vocab.decode(row) for row in tokens]
    return decoded


# --- evaluation -------------------------------------------------------------------------------------


@torch.no_grad()
def attention_examples(
    model: Seq2Seq,
    sentences: list[str],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    max_len: int = 20,
):
    """Greedy translations of a few normalised sentences with their attention, ready for
    :func:`aecourse.teaching.plots.show_attention`: a list of (source tokens, output tokens, weights (T, S)), where
    both token lists end with ``<eos>`` (the encoder reads it; the decoder writes it, unless it ran out of
    max_len) and row t of weights is output token t's attention over the source. Needs an attention model.
    """
    if not getattr(model.decoder, "attend", None):
        raise ValueError(
            "attention_examples needs a model with attention: Seq2Seq(..., attention=True)."
        )
    src, lengths = to_tensor(
        sentences, src_vocab, next(model.parameters()).device
    )
    tokens, weights = greedy_decode(model, src, lengths, max_len)
    examples = []
    for row, n, w in zip(tokens.tolist(), lengths.tolist(), weights):
        t = row.index(EOS_INDEX) + 1 if EOS_INDEX in row else len(row)
        source = [
            src_vocab.tokens[i] for i in src[len(examples), :n].tolist()
        ]
        examples.append(
            (
                source,
                [tgt_vocab.tokens[i] for i in row[:t]],
                w[:t, :n].cpu(),
            )
        )
    return examples


def group_references(
    sources: list[str], targets: list[str]
) -> tuple[list[str], list[list[str]]]:
    """Pairs -> each distinct source once, with all the targets it is paired with: its references.

    Tatoeba translates one English sentence several ways, each a pair of its own. Grouped, a model
    translates each sentence once and BLEU scores it against every accepted translation.
    sources, targets: the pairs' two sides, e.g. ``pairs.source`` and ``pairs.target``. Returns
    (sources, references), sources in order of first appearance, each one's references in pair order
    (a pair repeated in the file counts once). Raises ValueError unless both have the same length.
    """
    if len(sources) != len(targets):
        raise ValueError(
            f"Need one target per source, got {len(sources)} and {len(targets)}."
        )
    grouped: dict[str, list[str]] = {}
    for source, target in zip(sources, targets):
        references = grouped.setdefault(source, [])
        if target not in references:
            references.append(target)
    return list(grouped), list(grouped.values())


def bleu(hypotheses: list[str], references: list) -> float:
    """Corpus BLEU (0–100) by sacrebleu: hypothesis i against references[i], one string or a list of them.

    With several references, an n-gram counts as matched up to the most times any one reference has it,
    and the brevity penalty takes the reference length closest to the hypothesis's (Papineni et al. 2002).
    Sentences may have different numbers of references: sacrebleu reads one stream per reference and
    skips ``None`` (an empty string would count as a reference of length 0), so the streams are padded
    with None. Both sides are our normalised text (lower-case, punctuation split off by
    :func:`aecourse.data.translation.normalize`), so sacrebleu is told not to tokenise again
    (``tokenize="none"``) nor to warn that the text looks tokenised (``force=True``). Lower-cased and
    pre-tokenised, these scores are not comparable with published detokenised, cased BLEU.
    Raises ValueError unless there is one entry of at least one reference per hypothesis.
    """
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"Need one hypothesis per reference and at least one; got {len(hypotheses)} and {len(references)}."
        )
    references = [
        [r] if isinstance(r, str) else list(r) for r in references
    ]
    if not all(references) or not all(
        isinstance(r, str) for refs in references for r in refs
    ):
        raise ValueError(
            "Each hypothesis needs at least one reference, and references must be strings."
        )
    streams = [
        [refs[k] if k < len(refs) else None for refs in references]
        for k in range(max(map(len, references)))
    ]
    return sacrebleu.corpus_bleu(
        list(hypotheses), streams, tokenize="none", force=True
    ).score


def baseline_translations(
    sources: list[str], train_targets: list[str], kind: str = "frequent"
) -> list[str]:
    """A trivial translator, for BLEU to beat: "frequent" answers every source with the most frequent
    training target sentence; "copy" answers with the source itself (names and punctuation match)."""
    if kind == "copy":
        return list(sources)
    if kind != "frequent":
        raise ValueError(
            f"kind must be 'frequent' or 'copy', got {kind!r}."
        )
    if not train_targets:
        raise ValueError(
            "The 'frequent' baseline needs the training target sentences."
        )
    return [Counter(train_targets).most_common(1)[0][0]] * len(sources)


def token_accuracy_by_length(
    predicted: torch.Tensor,
    target: torch.Tensor,
    target_lengths: torch.Tensor,
) -> dict[int, float]:
    """Fraction of target tokens (``<eos>`` included) predicted at their position, per sentence length.

    predicted (N, L) and target (N, T) token indices (rows may have different widths, compared up to
    T); target_lengths (N,) count ``<eos>``. Returns {length in words (no ``<eos>``): accuracy}, sorted.
    """
    if len(predicted) != len(target) or target_lengths.shape != (
        len(target),
    ):
        raise ValueError(
            f"Need one prediction and one length per target: {len(predicted)}, {tuple(target_lengths.shape)}, {len(target)}."
        )
    width = target.shape[1]
    predicted = F.pad(
        predicted[:, :width],
        (0, max(0, width - predicted.shape[1])),
        value=PAD_INDEX,
    )
    real = (
        torch.arange(width, device=target.device)
        < target_lengths[:, None]
    )
    correct = ((predicted == target) & real).sum(1)
    return {
        int(n) - 1: (
            correct[target_lengths == n].sum()
            / real[target_lengths == n].sum()
        ).item()
        for n in target_lengths.unique().tolist()
    }


# --- the code space ---------------------------------------------------------------------------------


@torch.no_grad()
def encode_sentences(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    batch_size: int = 1024,
) -> torch.Tensor:
    """The code of each sentence: src (N, S), src_lengths (N,) -> (N, H)."""
    model.eval()
    return torch.cat(
        [
            model.encode(s[:, : int(n.max())], n).code
            for s, n in batches(
                src, src_lengths, batch_size=batch_size, shuffle=False
            )
        ]
    )


def nearest_neighbours(codes: torch.Tensor, queries, k: int = 5):
    """The k codes most cosine-similar to each query code, the query itself left out.

    codes (N, H); queries: row indices (Q,) (or one int) -> indices (Q, k), similarities (Q, k), best first.
    """
    queries = torch.as_tensor(queries, device=codes.device).reshape(-1)
    if not 1 <= k < len(codes):
        raise ValueError(
            f"k must be between 1 and N − 1 = {len(codes) - 1}, got {k}."
        )
    unit = F.normalize(codes, dim=1)
    similarity = unit[queries] @ unit.T
    similarity[
        torch.arange(len(queries), device=codes.device), queries
    ] = -float("inf")  # a sentence is not its own neighbour
    top, index = similarity.topk(k, dim=1)
    return index, top


def project_2d(codes: torch.Tensor) -> torch.Tensor:
    """Principal-component projection of codes (N, H) onto their two main directions: (N, 2)."""
    if codes.dim() != 2 or len(codes) < 2:
        raise ValueError(
            f"Need codes (N, H) with N >= 2, got {tuple(codes.shape)}."
        )
    centred = codes - codes.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:2].T
