"""A small transformer, written to be read: images cut into patches, position embeddings, a stack of
pre-norm blocks, and a causal language model (the masked-autoencoder and sparse-autoencoder chapters).

The masked-autoencoder chapter treats an image as a sequence: :func:`patchify` cuts (N, C, H, W) into
L = (H/p)(W/p) patches of p·p·C values, row by row, and :func:`unpatchify` glues them back. A transformer
has no idea of order by itself, so each patch gets a fixed 2-D sine-cosine code of its place in the grid
(:func:`sincos_position_embedding`, as in He et al. 2021). :class:`TransformerEncoder` is the stack of
blocks both chapters use: PyTorch's ``nn.TransformerEncoderLayer`` with the LayerNorm before attention and
before the MLP (pre-norm, as in GPT-2 and ViT), so each block adds its output to a *residual stream*
x ← x + attn(norm(x)); x ← x + mlp(norm(x)).

The sparse-autoencoder chapter needs a language model whose residual stream it can read and write:
:class:`CausalLM` (token and learned position embeddings, causal blocks, a next-token head, after
Karpathy's nanoGPT) gives the stream after any block (:meth:`CausalLM.residual`) and runs the rest of the
model from a stream that was replaced there (:meth:`CausalLM.logits_from`), so a sparse autoencoder's
reconstruction can be spliced back in and its cost read off the next-token loss
(:func:`next_token_loss`, a batch loss for :func:`aecourse.training.fit`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import images, indices, integer


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping p × p patches, each flattened to one row.

    x: (N, C, H, W) with H and W multiples of p  ->  (N, L, p·p·C), L = (H/p)·(W/p). The patches go row by
    row over the grid (patch l is at grid row l // (W/p), column l % (W/p)); inside a patch the pixels go row
    by row, each pixel's C channels side by side, (p, p, C): the order of He et al.'s code, so that a
    patch's row reads like a tiny image. Raises ValueError for a batch that is not (N, C, H, W) floats or
    a size that p does not divide.
    """
    images("x", x)
    p = integer("patch_size", patch_size, low=1)
    n, c, h, w = x.shape
    if h % p or w % p:
        raise ValueError(
            f"patch_size {p} must divide the image height and width, got {h} × {w}."
        )
    gh, gw = h // p, w // p
    # (N, C, gh, p, gw, p) -> (N, gh, gw, p, p, C): grid first (row-major), then the patch's pixels
    x = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, gh * gw, p * p * c)


def unpatchify(
    patches: torch.Tensor, patch_size: int, shape: tuple[int, int, int]
) -> torch.Tensor:
    """Glue patches back into images: the inverse of :func:`patchify`.

    patches: (N, L, p·p·C); shape: the image shape (C, H, W)  ->  (N, C, H, W). Raises ValueError when L
    and the row length do not fit (H/p)·(W/p) patches of p·p·C values.
    """
    p = integer("patch_size", patch_size, low=1)
    c, h, w = (int(s) for s in shape)
    if h % p or w % p:
        raise ValueError(
            f"patch_size {p} must divide the image height and width, got {h} × {w}."
        )
    gh, gw = h // p, w // p
    if patches.dim() != 3 or tuple(patches.shape[1:]) != (
        gh * gw,
        p * p * c,
    ):
        raise ValueError(
            f"patches for {c} × {h} × {w} images with patch_size {p} must be (N, {gh * gw}, "
            f"{p * p * c}), got {tuple(patches.shape)}."
        )
    n = len(patches)
    x = patches.reshape(n, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, c, h, w)


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(M,) positions -> (M, dim): sin(pos·ω_i) in the first half, cos(pos·ω_i) in the second,
    ω_i = 1/10000^(i/(dim/2)) for i = 0 .. dim/2 − 1 (Vaswani et al. 2017's frequencies)."""
    omega = 1.0 / 10000 ** (
        torch.arange(dim // 2, dtype=torch.float64) / (dim / 2)
    )
    angles = positions.double()[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_position_embedding(
    dim: int, grid: int | tuple[int, int]
) -> torch.Tensor:
    """Fixed 2-D sine-cosine position codes of a grid of patches, one row per patch in patchify's order.

    dim: the embedding width, a multiple of 4; grid: (rows, columns) of patches, or one int for a square
    grid  ->  (rows·columns, dim) float32. The first half of a row codes the patch's column, the second
    half its row, each with the 1-D sine-cosine code of the transformer paper (He et al. 2021's
    ``get_2d_sincos_pos_embed``). Fixed, not learned: nearby patches get similar codes from the start.
    Raises ValueError for a dim that is not a positive multiple of 4 or a grid side below 1.
    """
    integer("dim", dim, low=4)
    if dim % 4:
        raise ValueError(
            f"dim must be a multiple of 4 (sin and cos for rows and columns), got {dim}."
        )
    rows, cols = (grid, grid) if isinstance(grid, int) else grid
    integer("grid rows", rows, low=1)
    integer("grid columns", cols, low=1)
    row, col = torch.meshgrid(
        torch.arange(rows), torch.arange(cols), indexing="ij"
    )
    codes = torch.cat(
        [
            _sincos_1d(dim // 2, col.flatten()),
            _sincos_1d(dim // 2, row.flatten()),
        ],
        dim=1,
    )
    return codes.float()


def causal_mask(
    length: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """The additive attention mask that lets position t see positions 0..t only.

    length: T  ->  (T, T) float32, 0 on and below the diagonal and −inf above it (what
    ``nn.Transformer.generate_square_subsequent_mask`` gives; added to the attention scores, it makes the
    weights of future positions exactly 0).
    """
    integer("length", length, low=1)
    return nn.Transformer.generate_square_subsequent_mask(
        length, device=device
    )


def init_weights(module: nn.Module) -> None:
    """He et al.'s and nanoGPT's initialisation, applied with ``model.apply(init_weights)``: Xavier-uniform
    linear weights and zero biases, N(0, 0.02²) embeddings, LayerNorms at scale 1 and shift 0."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class TransformerEncoder(nn.Module):
    """A stack of ``depth`` pre-norm transformer blocks and a final LayerNorm: (N, T, dim) -> (N, T, dim).

    Each block is ``nn.TransformerEncoderLayer(dim, heads, mlp_ratio·dim, dropout, "gelu",
    batch_first=True, norm_first=True)``. causal: every block masks attention with :func:`causal_mask`,
    so output t depends on inputs 0..t only (a language model); otherwise every token sees every token
    (an image encoder). :meth:`run` gives the residual stream between blocks, which the final LayerNorm
    does not touch. Raises ValueError unless heads divides dim.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        causal: bool = False,
    ):
        super().__init__()
        integer("dim", dim, low=1)
        integer("depth", depth, low=0)
        integer("heads", heads, low=1)
        if dim % heads:
            raise ValueError(
                f"heads must divide dim (each head gets dim / heads values), got dim={dim}, "
                f"heads={heads}."
            )
        self.dim, self.causal = dim, bool(causal)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                heads,
                dim_feedforward=round(mlp_ratio * dim),
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def run(
        self, h: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """The residual stream after blocks start .. stop − 1, given the stream h before block ``start``.

        h: (N, T, dim)  ->  (N, T, dim). run(h, 0, k) is the stream after the first k blocks, and
        run(run(h, 0, k), k) == run(h): the blocks are the same calls either way. No final LayerNorm.
        Raises ValueError unless 0 <= start <= stop <= depth.
        """
        stop = self.depth if stop is None else stop
        integer("stop", stop, low=0, high=self.depth)
        integer("start", start, low=0, high=stop)
        if h.dim() != 3 or h.shape[-1] != self.dim:
            raise ValueError(
                f"h must be (N, T, {self.dim}), got {tuple(h.shape)}."
            )
        mask = causal_mask(h.shape[1], h.device) if self.causal else None
        for block in self.blocks[start:stop]:
            h = block(h, src_mask=mask, is_causal=self.causal)
        return h

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(self.run(h))


class CausalLM(nn.Module):
    """A small GPT: next-token logits from the tokens so far (after Karpathy's nanoGPT).

    vocab_size: V tokens; context: the longest sequence T it reads; dim, depth, heads, mlp_ratio: its
    :class:`TransformerEncoder` (causal). Token embedding + learned position embedding -> ``depth``
    causal blocks -> LayerNorm -> linear head. forward: idx (N, T) int64 in 0..V−1, T <= context  ->
    logits (N, T, V), where logits[:, t] predicts token t + 1 from tokens 0..t.
    The residual stream between blocks is open to read and replace: :meth:`residual`, :meth:`logits_from`.
    """

    def __init__(
        self,
        vocab_size: int,
        context: int,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 4.0,
    ):
        super().__init__()
        self.vocab_size = integer("vocab_size", vocab_size, low=2)
        self.context = integer("context", context, low=1)
        self.token = nn.Embedding(vocab_size, dim)
        self.position = nn.Embedding(context, dim)
        self.blocks = TransformerEncoder(
            dim, depth, heads, mlp_ratio, causal=True
        )
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.apply(init_weights)

    @property
    def depth(self) -> int:
        return self.blocks.depth

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
            raise ValueError(
                f"idx must be (N, T) token indices, got {tuple(getattr(idx, 'shape', ()))}."
            )
        indices("idx", idx, "token indices")
        t = idx.shape[1]
        if not 1 <= t <= self.context:
            raise ValueError(
                f"sequences must have 1 to {self.context} tokens (the context), got {t}."
            )
        if idx.numel() and (
            idx.min() < 0 or idx.max() >= self.vocab_size
        ):
            raise ValueError(
                f"token indices must lie in 0..{self.vocab_size - 1}, got "
                f"{int(idx.min())}..{int(idx.max())}."
            )
        positions = torch.arange(t, device=idx.device)
        return self.token(idx) + self.position(positions)

    def residual(self, idx: torch.Tensor, after: int) -> torch.Tensor:
        """The residual stream after the first ``after`` blocks: idx (N, T) -> (N, T, dim).

        after: 0 (the embeddings) to depth (the last block's output, before the final LayerNorm).
        Raises ValueError for an ``after`` outside 0..depth.
        """
        integer("after", after, low=0, high=self.depth)
        return self.blocks.run(self._embed(idx), 0, after)

    def logits_from(self, h: torch.Tensor, after: int) -> torch.Tensor:
        """Run the rest of the model from a residual stream h at block ``after``: (N, T, dim) -> (N, T, V).

        h stands where ``residual(idx, after)`` would: logits_from(residual(idx, k), k) equals
        forward(idx) exactly, and a replaced h (a sparse autoencoder's reconstruction) shows what the
        replacement costs downstream.
        """
        integer("after", after, low=0, high=self.depth)
        return self.head(self.blocks.norm(self.blocks.run(h, after)))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits_from(self._embed(idx), 0)


def next_token_loss(model: CausalLM, batch: tuple) -> torch.Tensor:
    """The cross-entropy of each next token, in nats per token: a batch loss for ``fit``.

    batch: a tuple whose first tensor is (B, T + 1) token indices; the model reads tokens 0..T−1 and is
    scored on tokens 1..T. ``fit(model, windows, batch_loss=next_token_loss)`` trains a :class:`CausalLM`
    on (N, T + 1) windows of a token stream. Raises ValueError for windows shorter than 2 tokens.
    """
    tokens = batch[0]
    if tokens.dim() != 2 or tokens.shape[1] < 2:
        raise ValueError(
            f"next_token_loss needs (B, T + 1) windows of at least 2 tokens, got {tuple(tokens.shape)}."
        )
    logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
