"""Reading what a unit responds to: its top-activating contexts, and how concentrated they are on one kind
of token (the sparse autoencoder chapter).

A "unit" is a column of a code matrix (N, L): an SAE latent, or a neuron of the network itself, one row
per token position. The chapter reads a unit by the contexts where it fires most (:func:`top_activations`,
:func:`contexts`) and scores it by how many of those fall on one token class (:func:`top_share`,
:func:`concentration`). Both scores use only the ranks of the k largest activations, never their
scale, so an SAE latent (sparse, ≥ 0) and a neuron (dense, signed) are scored on the same footing; only
positive activations count as firing, so a unit that fires on fewer than k positions is judged on
those it fires on, and one that never fires gets NaN.

The neurons an SAE's latents are compared with are those of the language model's MLPs:
:func:`mlp_neurons` reads the hidden units of one block of a
:class:`~aecourse.models.transformer.CausalLM`, one row per token position like an SAE's code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aecourse._args import indices, integer
from aecourse.models.transformer import CausalLM


def _codes(codes) -> torch.Tensor:
    if (
        not isinstance(codes, torch.Tensor)
        or codes.dim() != 2
        or not codes.is_floating_point()
    ):
        shape = (
            tuple(codes.shape)
            if isinstance(codes, torch.Tensor)
            else codes
        )
        raise ValueError(
            f"codes must be a float tensor (N, L), one row per token position, got {shape!r}."
        )
    return codes


def _top(
    codes: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest activations of each unit and where they are: values, positions, both (k, L);
    positions whose activation is not positive are -1."""
    integer("k", k, low=1, high=len(_codes(codes)))
    values, where = codes.topk(k, dim=0)
    return values, torch.where(values > 0, where, -1)


def top_activations(
    codes: torch.Tensor, unit: int, k: int
) -> torch.Tensor:
    """The positions of unit's k largest activations, largest first.

    codes: (N, L); unit: a column index  ->  (k,) long indices into the N rows. Raises ValueError unless
    0 <= unit < L and 1 <= k <= N.
    """
    integer("unit", unit, low=0, high=_codes(codes).shape[1] - 1)
    integer("k", k, low=1, high=len(codes))
    return codes[:, unit].topk(k).indices


def contexts(
    tokens: torch.Tensor,
    positions: torch.Tensor,
    before: int = 8,
    after: int = 0,
    pad: int = -1,
) -> torch.Tensor:
    """The token windows around flat positions: for each position, ``before`` tokens, itself, ``after``.

    tokens: (B, T) token ids, B sequences of length T; positions: (k,) indices into the B·T flattened
    positions (what :func:`top_activations` returns for codes of B·T rows)  ->  (k, before + 1 + after)
    token ids, padded with ``pad`` where the window runs past the start or end of its own sequence (a
    window never crosses into the next sequence). Column ``before`` holds the token at the position.
    """
    indices("tokens", tokens, "token ids")
    indices("positions", positions)
    if tokens.dim() != 2 or positions.dim() != 1:
        raise ValueError(
            f"expected tokens (B, T) and positions (k,), got {tuple(tokens.shape)} and "
            f"{tuple(positions.shape)}."
        )
    integer("before", before, low=0)
    integer("after", after, low=0)
    B, T = tokens.shape
    if (
        len(positions)
        and not 0 <= int(positions.min()) <= int(positions.max()) < B * T
    ):
        raise ValueError(
            f"positions must lie in 0..{B * T - 1} (B·T = {B * T})."
        )
    row, col = positions // T, positions % T
    offsets = torch.arange(-before, after + 1, device=positions.device)
    cols = col[:, None] + offsets  # (k, window)
    inside = (cols >= 0) & (cols < T)
    windows = tokens[row[:, None], cols.clamp(0, T - 1)]
    return torch.where(inside, windows, torch.full_like(windows, pad))


def top_share(
    codes: torch.Tensor, in_class: torch.Tensor, k: int
) -> torch.Tensor:
    """For each unit, the share of its k largest activations that fall on positions of one token class.

    codes: (N, L); in_class: (N,) bool, True at the positions of the class (e.g. digits, or a word)
    ->  (L,) in [0, 1]: among the k largest activations that are > 0, the fraction at True positions;
    NaN for a unit with no positive activation.
    """
    in_class = torch.as_tensor(in_class)
    if in_class.dtype != torch.bool or in_class.shape != (
        len(_codes(codes)),
    ):
        raise ValueError(
            f"in_class must be a bool tensor ({len(codes)},), got {in_class.dtype} "
            f"{tuple(in_class.shape)}."
        )
    _, where = _top(codes, k)
    fired = where >= 0
    hits = (in_class.to(codes.device)[where.clamp_min(0)] & fired).sum(0)
    # 0/0 = NaN for a unit that never fires
    return hits.double() / fired.sum(0).double()


def concentration(
    codes: torch.Tensor, classes: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """How much of each unit's top-k activations one token class takes, and which class that is.

    codes: (N, L); classes: (N,) integer class ids ≥ 0, one per position  ->  (share (L,), best (L,)):
    share in [0, 1] is the largest fraction of the unit's positive top-k activations held by one class
    (:func:`top_share` of its best class), best that class (ties: the smallest id). 1 means all its
    strongest contexts are of one class. A unit that picked positions at random would score about the
    frequency of the commonest class: compare with that, not with 0. A unit that never fires gets NaN
    and class -1.
    """
    classes = indices("classes", torch.as_tensor(classes), "class ids")
    if classes.shape != (len(_codes(codes)),) or (
        len(classes) and int(classes.min()) < 0
    ):
        raise ValueError(
            f"classes must be ({len(codes)},) class ids >= 0, got shape {tuple(classes.shape)}."
        )
    _, where = _top(codes, k)
    fired = where >= 0
    cls = classes.to(codes.device)[where.clamp_min(0)]  # (k, L)
    counts = (
        F.one_hot(cls, int(classes.max()) + 1) * fired[..., None]
    ).sum(0)  # (L, C)
    most, best = counts.max(1)
    n_fired = fired.sum(0)
    share = most.double() / n_fired.double()
    return share, torch.where(n_fired > 0, best, -1)


@torch.no_grad()
def mlp_neurons(
    model: CausalLM, idx: torch.Tensor, block: int
) -> torch.Tensor:
    """The MLP neurons of one block of a language model, at every position of a batch of sequences.

    model: a :class:`~aecourse.models.transformer.CausalLM`; idx: (N, T) token indices; block: 0 to
    depth − 1  ->  (N·T, H): the activations (GELU of the first linear layer) of the block's H hidden
    units, row n·T + t for sequence n, position t, the order of an SAE's code on ``residual(idx,
    block + 1)`` flattened. Block b's neurons write into the residual stream after b + 1 blocks, so they
    are the model's own units for the stream an SAE reads there. Raises ValueError for a block outside
    0..depth − 1.
    """
    if not isinstance(model, CausalLM):
        raise ValueError(
            f"model must be a CausalLM, got {type(model).__name__}."
        )
    integer("block", block, low=0, high=model.depth - 1)
    layer = model.blocks.blocks[block]
    seen = []
    # a hook reads the pre-activations where the block computes them, so the attention and the norms
    # before the MLP are the model's own, not a copy of them
    hook = layer.linear1.register_forward_hook(
        lambda module, inputs, output: seen.append(output)
    )
    try:
        model.residual(idx, block + 1)
    finally:
        hook.remove()
    pre = seen[0]
    return layer.activation(pre).reshape(-1, pre.shape[-1])
