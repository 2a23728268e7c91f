"""GRU sequence-to-sequence models for the translation chapter: encoder, decoders with and without
attention, training.

One shape serves two tasks: the sequence autoencoder (English → the same English, Dai & Le 2015) and
translation (English → French, Sutskever et al. 2014; Cho et al. 2014). The :class:`Encoder` reads a
padded batch and hands the decoder a :class:`Memory`: its output at every source position, the padding
mask, and the *code*, its final hidden state. The plain :class:`Decoder` sees only the code; the
:class:`AttentionDecoder` also looks back at every encoder output (Bahdanau et al. 2015). Batches come
from :mod:`aecourse.data.translation`, whose special tokens sit at fixed indices (``<pad>`` = 0); decoding,
BLEU and the code space are in :mod:`aecourse.evaluation.decoding`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from aecourse.data.translation import (
    PAD_INDEX,
    SOS_INDEX,
    SPECIALS,
    Pairs,
)
from aecourse.training import History, evaluate, fit


class Memory(NamedTuple):
    """What the encoder hands the decoder: outputs (N, S, H), mask (N, S) True at real tokens, code (N, H)."""

    outputs: torch.Tensor
    mask: torch.Tensor
    code: torch.Tensor

    def select(self, index: torch.Tensor) -> Memory:
        """The rows ``index`` (B,) of every field, e.g. one sentence repeated for each beam."""
        return Memory(
            self.outputs[index], self.mask[index], self.code[index]
        )


def _check_batch(src: torch.Tensor, lengths: torch.Tensor) -> None:
    if src.dim() != 2 or src.dtype != torch.int64:
        raise ValueError(
            f"src must be a (N, S) int64 tensor of token indices, got {src.dtype} {tuple(src.shape)}."
        )
    if lengths.shape != (len(src),):
        raise ValueError(
            f"lengths must have shape ({len(src)},), one per sentence; got {tuple(lengths.shape)}."
        )
    if len(src) and (lengths.min() < 1 or lengths.max() > src.shape[1]):
        raise ValueError(
            f"lengths must lie in [1, {src.shape[1]}] (the padded length), got {lengths.tolist()}."
        )


class Encoder(nn.Module):
    """Embedding + GRU over padded sentences; the final hidden state is the code.

    src (N, S) int64 padded with ``<pad>``, lengths (N,) -> Memory(outputs (N, S, H), mask (N, S), code (N, H)).
    The batch is packed, so the GRU stops at each sentence's last token: padding never reaches the code,
    and the outputs are 0 at padded positions.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 128,
        hidden_size: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(
            vocab_size, embed_size, padding_idx=PAD_INDEX
        )
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(embed_size, hidden_size, batch_first=True)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> Memory:
        _check_batch(src, lengths)
        packed = pack_padded_sequence(
            self.dropout(self.embedding(src)),
            lengths.cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        outputs, hidden = self.gru(packed)
        outputs, _ = pad_packed_sequence(
            outputs, batch_first=True, total_length=src.shape[1]
        )
        mask = (
            torch.arange(src.shape[1], device=src.device)
            < lengths[:, None]
        )
        return Memory(outputs, mask, hidden[0])


class Decoder(nn.Module):
    """A GRU writing the target one token at a time, conditioned on the code alone (no attention).

    The code is the first hidden state and is fed again at every step beside the previous token (Cho et
    al. 2014), so the recurrence need not carry it unchanged to the end of a long sentence.
    step: tokens (N,), hidden (N, H), memory -> logits (N, V), new hidden (N, H), weights None.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 128,
        hidden_size: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(
            vocab_size, embed_size, padding_idx=PAD_INDEX
        )
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRUCell(embed_size + hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)

    def step(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ):
        hidden = self.gru(
            torch.cat(
                [self.dropout(self.embedding(tokens)), memory.code], dim=1
            ),
            hidden,
        )
        return self.out(hidden), hidden, None


class AttentionDecoder(nn.Module):
    """A GRU decoder that, before each step, attends over all encoder outputs (Bahdanau et al. 2015).

    Additive attention: score_j = vᵀ tanh(W h + U s_j) for the previous hidden state h and the encoder
    output s_j; weights a = softmax(scores) with padded positions set to −∞ (weight 0); the context
    Σ_j a_j s_j joins the previous token's embedding as the GRU's input and its hidden state for the output.
    step: tokens (N,), hidden (N, H), memory -> logits (N, V), new hidden (N, H), weights (N, S).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 128,
        hidden_size: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(
            vocab_size, embed_size, padding_idx=PAD_INDEX
        )
        self.dropout = nn.Dropout(dropout)
        self.query = nn.Linear(hidden_size, hidden_size, bias=False)  # W
        self.key = nn.Linear(hidden_size, hidden_size)  # U
        self.score = nn.Linear(hidden_size, 1, bias=False)  # v
        self.gru = nn.GRUCell(embed_size + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size, vocab_size)

    def attend(self, hidden: torch.Tensor, memory: Memory):
        """hidden (N, H) -> context (N, H), weights (N, S) summing to 1 over the real tokens, 0 on padding."""
        scores = self.score(
            torch.tanh(
                self.query(hidden)[:, None] + self.key(memory.outputs)
            )
        ).squeeze(2)
        weights = scores.masked_fill(~memory.mask, float("-inf")).softmax(
            dim=1
        )
        return torch.bmm(weights[:, None], memory.outputs).squeeze(
            1
        ), weights

    def step(
        self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ):
        context, weights = self.attend(hidden, memory)
        hidden = self.gru(
            torch.cat(
                [self.dropout(self.embedding(tokens)), context], dim=1
            ),
            hidden,
        )
        return (
            self.out(torch.cat([hidden, context], dim=1)),
            hidden,
            weights,
        )


class Seq2Seq(nn.Module):
    """An :class:`Encoder` and a :class:`Decoder` (attention=False) or :class:`AttentionDecoder`.

    encode: src (N, S), src_lengths (N,) -> Memory, whose ``code`` (N, H) is the sentences' code.
    forward: src, src_lengths, tgt (N, T) -> logits (N, T, V_tgt) under teacher forcing: step t reads the
    true token t − 1 (``<sos>`` at t = 0), whatever the model predicted before.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_size: int = 128,
        hidden_size: int = 256,
        attention: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if (
            min(src_vocab_size, tgt_vocab_size) <= len(SPECIALS)
            or min(embed_size, hidden_size) < 1
        ):
            raise ValueError(
                f"Vocabulary sizes must exceed the 4 special tokens and sizes be positive; got "
                f"vocab {src_vocab_size}, {tgt_vocab_size}, embed {embed_size}, hidden {hidden_size}."
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.encoder = Encoder(
            src_vocab_size, embed_size, hidden_size, dropout
        )
        decoder = AttentionDecoder if attention else Decoder
        self.decoder = decoder(
            tgt_vocab_size, embed_size, hidden_size, dropout
        )

    def encode(
        self, src: torch.Tensor, src_lengths: torch.Tensor
    ) -> Memory:
        return self.encoder(src, src_lengths)

    def forward(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt: torch.Tensor,
    ) -> torch.Tensor:
        memory = self.encode(src, src_lengths)
        inputs = torch.cat(
            [torch.full_like(tgt[:, :1], SOS_INDEX), tgt[:, :-1]], dim=1
        )
        # the code is the decoder's first hidden state
        hidden, logits = (memory.code, [])
        for t in range(tgt.shape[1]):
            step_logits, hidden, _ = self.decoder.step(
                inputs[:, t], hidden, memory
            )
            logits.append(step_logits)
        return torch.stack(logits, dim=1)


# --- training ---------------------------------------------------------------------------------------


def masked_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pad_index: int = PAD_INDEX,
) -> torch.Tensor:
    """Cross-entropy averaged over the real target tokens: padded positions count neither way.

    logits (N, T, V), targets (N, T) -> scalar; the same as F.cross_entropy(..., ignore_index=pad_index).
    """
    if logits.dim() != 3 or logits.shape[:2] != targets.shape:
        raise ValueError(
            f"Expected logits (N, T, V) and targets (N, T), got {tuple(logits.shape)} and {tuple(targets.shape)}."
        )
    per_token = F.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), reduction="none"
    ).view_as(targets)
    real = targets != pad_index
    return (per_token * real).sum() / real.sum()


def _trimmed(src, src_lengths, tgt, tgt_lengths):
    """A batch cut to its own longest sentences: padding no batch sentence needs costs no steps."""
    return (
        src[:, : int(src_lengths.max())],
        src_lengths,
        tgt[:, : int(tgt_lengths.max())],
    )


def teacher_forcing_loss(
    model: nn.Module, batch: tuple
) -> dict[str, torch.Tensor]:
    """The batch loss of :func:`aecourse.training.fit` for a sequence-to-sequence model: the masked
    cross-entropy under teacher forcing, counted per real target token.

    batch: (src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,)), as :class:`Pairs` holds them.
    """
    src, src_lengths, tgt = _trimmed(*batch)
    return {
        "loss": masked_cross_entropy(model(src, src_lengths, tgt), tgt),
        "count": batch[3].sum(),
    }


def _tensors(pairs: Pairs) -> tuple[torch.Tensor, ...]:
    return pairs.src, pairs.src_lengths, pairs.tgt, pairs.tgt_lengths


def evaluate_seq2seq(
    model: nn.Module, pairs: Pairs, batch_size: int = 512
) -> float:
    """Mean cross-entropy per real target token of ``model`` on ``pairs``, under teacher forcing."""
    return evaluate(
        model,
        _tensors(pairs),
        batch_size=batch_size,
        batch_loss=teacher_forcing_loss,
    )


def fit_seq2seq(
    model: nn.Module,
    train: Pairs,
    valid: Pairs | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    clip: float = 1.0,
    keep_best: bool = False,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` with teacher forcing, Adam and gradient clipping; return the loss per epoch.

    :func:`aecourse.training.fit` with :func:`teacher_forcing_loss`. history.train: mean loss per target
    token over each epoch; history.valid: the same on ``valid`` after each epoch (the validation split,
    for choosing sizes and epochs; the test split stays unseen).
    clip: largest gradient norm (exploding gradients are the classic RNN failure); 0 or None turns it off.
    keep_best: leave the model with the weights of the epoch with the lowest validation loss (needs
    ``valid``); history.best_epoch says which epoch that was.
    Runs on the data's device; raises ValueError if the model is elsewhere or epochs < 0.
    """
    device = next(model.parameters()).device
    if device != train.src.device:
        raise ValueError(
            f"The model is on {device} and the data on {train.src.device}: move one, "
            "e.g. model.to(data.train.src.device)."
        )
    return fit(
        model,
        _tensors(train),
        batch_loss=teacher_forcing_loss,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        clip=clip,
        valid=None if valid is None else _tensors(valid),
        keep_best=keep_best,
        progress=progress,
        desc=desc,
    )
