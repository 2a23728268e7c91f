"""The masked autoencoder of He et al. (2021): hide most patches of an image, encode the few that are
left, and ask a light decoder to draw the hidden ones (the masked-autoencoder chapter).

A denoising autoencoder corrupts pixels and sees the whole corrupted image. A masked autoencoder (MAE)
removes whole patches and its encoder never sees them: with a masking ratio of 75% the encoder reads a
quarter of the patches, so it costs about a quarter as much, and the task cannot be solved by copying
neighbouring pixels. The pieces, in the order an image goes through them:

1. :func:`aecourse.models.transformer.patchify` cuts the image into L patches; each becomes a token (a
   linear map) plus its fixed 2-D sine-cosine position code;
2. :func:`random_masking` keeps round(L·(1 − ratio)) tokens of each image at random: draw noise per
   patch, sort it (argsort), keep the first, and remember the inverse order ``ids_restore``;
3. :class:`PatchEncoder` runs its transformer on the kept tokens only;
4. the decoder of :class:`MAE` appends one learned *mask token* per hidden patch, puts every token back in
   its place (:func:`restore_order`), adds position codes and predicts every patch's pixels;
5. :func:`masked_patch_loss` scores the hidden patches only, against the raw pixels or, with
   ``norm_pix_loss``, against each patch normalised by its own mean and variance
   (:func:`normalize_patches`).

After pretraining, the encoder alone is the feature extractor: :meth:`MAE.features` reads all patches,
unmasked, into one vector per image for a linear probe (:func:`aecourse.evaluation.probes.linear_probe`),
and :meth:`MAE.classifier` puts a linear head on a copy of the encoder for fine-tuning with few labels
(train it with :func:`aecourse.training.fit` and ``loss=F.cross_entropy``). :meth:`MAE.reconstruct` gives
the images a figure shows. Randomness comes from an optional ``torch.Generator``.
"""

from __future__ import annotations

import copy
from numbers import Real
from typing import NamedTuple

import torch
from torch import nn

from aecourse._args import images, integer
from aecourse.models.transformer import (
    TransformerEncoder,
    init_weights,
    patchify,
    sincos_position_embedding,
    unpatchify,
)
from aecourse.training import History, fit

POOLS = ("mean", "cls")


def keep_count(length: int, ratio: float) -> int:
    """How many of L patches stay visible at a masking ratio: round(L·(1 − ratio)).

    length: L >= 1; ratio: in [0, 1)  ->  an int from 1 to L. Python's round, so L = 49 at ratio 0.6 keeps
    20 (19.6 rounded), not 19 as int() would. Raises ValueError for a ratio outside [0, 1) and for one so
    close to 1 that no patch would stay (the encoder would have nothing to read).
    """
    integer("length", length, low=1)
    if (
        isinstance(ratio, bool)
        or not isinstance(ratio, Real)
        or not 0 <= ratio < 1
    ):
        raise ValueError(
            f"ratio must be a number in [0, 1) (the share of patches hidden), got {ratio!r}."
        )
    keep = round(length * (1 - ratio))
    if keep < 1:
        raise ValueError(
            f"ratio {ratio} hides all {length} patches (round({length}·(1 − {ratio})) = 0): "
            "keep at least one."
        )
    return keep


def _uniform(
    shape: tuple[int, ...],
    like: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    # Drawn where the generator lives and then moved: a CPU generator gives the same masks whether the
    # model runs on a CPU or a GPU (as aecourse.models.vae draws its noise).
    where = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=where).to(
        like.device
    )


class Masked(NamedTuple):
    """What :func:`random_masking` returns.

    visible: (N, K, D) the kept tokens, in the shuffled order; mask: (N, L) float, 1 at hidden patches and
    0 at visible ones, in the original order; ids_restore: (N, L) int64, the inverse of the shuffle:
    token l of the original order is token ids_restore[n, l] of the shuffled one.
    """

    visible: torch.Tensor
    mask: torch.Tensor
    ids_restore: torch.Tensor


def random_masking(
    tokens: torch.Tensor,
    ratio: float,
    generator: torch.Generator | None = None,
) -> Masked:
    """Keep round(L·(1 − ratio)) tokens of each sequence at random, a different set for each one.

    tokens: (N, L, D)  ->  :class:`Masked` (visible (N, K, D), mask (N, L), ids_restore (N, L)).
    One uniform number per token is drawn; sorting them (argsort) shuffles the tokens, the first K of the
    shuffle are kept, and argsort of the shuffle is its inverse, ids_restore. Every subset of K patches
    is equally likely. generator: for a repeatable draw (then drawn on its device and moved to tokens').
    Raises ValueError for tokens that are not (N, L, D) or a ratio outside [0, 1) (see :func:`keep_count`).
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3:
        raise ValueError(
            f"tokens must be (N, L, D), got {tuple(getattr(tokens, 'shape', ()))}."
        )
    n, length, dim = tokens.shape
    keep = keep_count(length, ratio)
    noise = _uniform((n, length), tokens, generator)
    ids_shuffle = noise.argsort(
        dim=1
    )  # small noise first: these are kept
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :keep]
    visible = tokens.gather(1, ids_keep[..., None].expand(-1, -1, dim))
    # 0 for the first K of the shuffle, 1 for the rest, then put back in the original order
    mask = torch.ones(n, length, device=tokens.device)
    mask[:, :keep] = 0
    mask = mask.gather(1, ids_restore)
    return Masked(visible, mask, ids_restore)


def restore_order(
    shuffled: torch.Tensor, ids_restore: torch.Tensor
) -> torch.Tensor:
    """Undo a shuffle: shuffled (N, L, D) in the shuffled order, ids_restore (N, L)  ->  (N, L, D) in the
    original order, out[n, l] = shuffled[n, ids_restore[n, l]].

    The decoder's step: the encoded visible tokens followed by mask tokens are a full sequence in the
    shuffled order, and this puts each back at its patch. Raises ValueError when the shapes do not fit.
    """
    if (
        shuffled.dim() != 3
        or ids_restore.shape != shuffled.shape[:2]
        or ids_restore.dtype != torch.int64
    ):
        raise ValueError(
            f"shuffled must be (N, L, D) and ids_restore (N, L) int64, got {tuple(shuffled.shape)} "
            f"and {tuple(ids_restore.shape)} {ids_restore.dtype}."
        )
    index = ids_restore[..., None].expand(-1, -1, shuffled.shape[2])
    return shuffled.gather(1, index)


def normalize_patches(
    patches: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Each patch minus its own mean, divided by sqrt(its variance + eps): the norm_pix_loss target.

    patches: (N, L, P)  ->  (N, L, P). The variance is the unbiased one (divided by P − 1), as
    ``Tensor.var`` and He et al.'s code compute it; eps keeps a flat patch (a black background) at 0
    rather than dividing by zero. A decoder trained on this target draws each patch's texture and edges,
    not its brightness, which He et al. found gives better features.
    """
    if patches.dim() != 3 or patches.shape[-1] < 2:
        raise ValueError(
            f"patches must be (N, L, P) with P >= 2 values per patch, got {tuple(patches.shape)}."
        )
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()


def masked_patch_loss(
    pred: torch.Tensor,
    patches: torch.Tensor,
    mask: torch.Tensor,
    norm_pix: bool = False,
) -> torch.Tensor:
    """The MAE loss: mean squared error per patch, averaged over the hidden patches only.

    pred, patches: (N, L, P) the decoder's output and the true patches; mask: (N, L), 1 at hidden
    patches, 0 at visible ones  ->  a scalar, Σ_{n,l} mask·mean_p (pred − target)² / Σ mask.
    norm_pix: the target is :func:`normalize_patches` of the patches instead of the raw pixels.
    The visible patches do not count: predicting them is copying, which teaches nothing.
    Raises ValueError for shapes that do not fit or a mask that hides no patch.
    """
    if pred.shape != patches.shape or pred.dim() != 3:
        raise ValueError(
            f"pred and patches must both be (N, L, P), got {tuple(pred.shape)} and "
            f"{tuple(patches.shape)}."
        )
    if mask.shape != pred.shape[:2]:
        raise ValueError(
            f"mask must be (N, L) = {tuple(pred.shape[:2])}, got {tuple(mask.shape)}."
        )
    hidden = mask.sum()
    if hidden == 0:
        raise ValueError(
            "the mask hides no patch: the loss is over hidden patches (mask == 1) only."
        )
    target = normalize_patches(patches) if norm_pix else patches
    per_patch = (pred - target).pow(2).mean(dim=-1)  # (N, L)
    return (per_patch * mask).sum() / hidden


class PatchEncoder(nn.Module):
    """The MAE's encoder, a Vision Transformer: patches -> tokens -> transformer, run on visible tokens.

    image_shape: (C, H, W); patch_size p divides H and W; dim, depth, heads, mlp_ratio: the
    :class:`~aecourse.models.transformer.TransformerEncoder`. cls_token: prepend a learned token, which
    is never masked and may serve as the image's summary. Each patch of p·p·C values becomes a token
    by one linear map (as a convolution with stride p would), plus its fixed 2-D sine-cosine position code.
    """

    def __init__(
        self,
        image_shape=(1, 28, 28),
        patch_size: int = 4,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        cls_token: bool = False,
    ):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        p = integer("patch_size", patch_size, low=1)
        if h % p or w % p:
            raise ValueError(
                f"patch_size {p} must divide the image height and width, got {h} × {w}."
            )
        self.image_shape, self.patch_size = (c, h, w), p
        self.grid = (h // p, w // p)
        self.embed = nn.Linear(p * p * c, dim)
        self.cls = (
            nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        )
        # a buffer: fixed, moves with the model, saved with it
        self.register_buffer(
            "position", sincos_position_embedding(dim, self.grid)[None]
        )
        self.transformer = TransformerEncoder(
            dim, depth, heads, mlp_ratio
        )
        self.apply(init_weights)
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def dim(self) -> int:
        return self.embed.out_features

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        images("x", x)
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"x must be images (N, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}."
            )
        return x

    def forward(
        self,
        x: torch.Tensor,
        ratio: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the visible patches of x: (latent (N, [1 +] K, dim), mask (N, L), ids_restore (N, L)).

        x: (N, C, H, W). ratio: the share of patches hidden (0: none hidden, none shuffled, every patch in
        its place). The transformer runs on the K visible tokens only (and the cls token, first), so its
        cost falls with the ratio. The latent ends with the final LayerNorm.
        """
        tokens = self.embed(patchify(self._check(x), self.patch_size))
        tokens = tokens + self.position
        if ratio == 0:
            n, length = tokens.shape[:2]
            mask = torch.zeros(n, length, device=x.device)
            ids_restore = torch.arange(length, device=x.device).expand(
                n, -1
            )
            visible = tokens
        else:
            visible, mask, ids_restore = random_masking(
                tokens, ratio, generator
            )
        if self.cls is not None:
            visible = torch.cat(
                [self.cls.expand(len(visible), -1, -1), visible], dim=1
            )
        return self.transformer(visible), mask, ids_restore

    def features(
        self, x: torch.Tensor, pool: str = "mean"
    ) -> torch.Tensor:
        """One vector per image from all patches, unmasked: x (N, C, H, W) -> (N, dim).

        pool: "mean" averages the patch tokens (not the cls token); "cls" takes the cls token (needs
        ``cls_token=True``). Raises ValueError for another pool.
        """
        if pool not in POOLS:
            raise ValueError(
                f"pool must be one of {POOLS}, got {pool!r}."
            )
        if pool == "cls" and self.cls is None:
            raise ValueError(
                "pool='cls' needs an encoder built with cls_token=True."
            )
        latent = self(x)[0]
        if pool == "cls":
            return latent[:, 0]
        return latent[:, 0 if self.cls is None else 1 :].mean(dim=1)


class MAEOutput(NamedTuple):
    """What :meth:`MAE.forward` returns: loss (scalar), pred (N, L, P) every patch as the decoder
    predicts it (in normalised units with norm_pix_loss), mask (N, L) 1 at hidden patches."""

    loss: torch.Tensor
    pred: torch.Tensor
    mask: torch.Tensor


class Reconstruction(NamedTuple):
    """Images for a figure, each (N, C, H, W): masked, the input with its hidden patches set to a fill
    value; predicted, the decoder's output everywhere; pasted, the input where visible and the prediction
    where hidden; mask_image, 1 on hidden pixels and 0 on visible ones."""

    masked: torch.Tensor
    predicted: torch.Tensor
    pasted: torch.Tensor
    mask_image: torch.Tensor


class MAE(nn.Module):
    """A masked autoencoder: a :class:`PatchEncoder` on the visible patches and a light transformer
    decoder that predicts every patch from the encoded ones and mask tokens.

    image_shape (C, H, W), patch_size, dim, depth, heads, mlp_ratio, cls_token: the encoder's.
    decoder_dim, decoder_depth, decoder_heads: the decoder, narrower and shallower than the encoder
    (He et al. 2021: it is used only for pretraining, and a light one keeps pretraining cheap).
    mask_ratio: the share of patches hidden in training, 0.75 by default as in the paper.
    norm_pix_loss: score the prediction against each patch normalised by its own mean and variance.
    forward: x (N, C, H, W) -> :class:`MAEOutput` (loss, pred (N, L, p·p·C), mask (N, L)).
    """

    def __init__(
        self,
        image_shape=(1, 28, 28),
        patch_size: int = 4,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        decoder_dim: int = 32,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        mlp_ratio: float = 4.0,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = False,
        cls_token: bool = False,
    ):
        super().__init__()
        self.encoder = PatchEncoder(
            image_shape,
            patch_size,
            dim,
            depth,
            heads,
            mlp_ratio,
            cls_token,
        )
        keep_count(self.encoder.num_patches, mask_ratio)  # fail early
        self.mask_ratio = float(mask_ratio)
        self.norm_pix_loss = bool(norm_pix_loss)
        c = self.encoder.image_shape[0]
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer(
            "decoder_position",
            sincos_position_embedding(decoder_dim, self.encoder.grid)[
                None
            ],
        )
        self.decoder = TransformerEncoder(
            decoder_dim, decoder_depth, decoder_heads, mlp_ratio
        )
        self.decoder_pred = nn.Linear(decoder_dim, patch_size**2 * c)
        for module in (
            self.decoder_embed,
            self.decoder,
            self.decoder_pred,
        ):
            module.apply(init_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    @property
    def patch_size(self) -> int:
        return self.encoder.patch_size

    def decode(
        self, latent: torch.Tensor, ids_restore: torch.Tensor
    ) -> torch.Tensor:
        """Predict every patch: latent (N, [1 +] K, dim) from the encoder, ids_restore (N, L)  ->  (N, L, P).

        The K encoded tokens are followed by L − K copies of the mask token, put back in patch order,
        given their position codes and run through the decoder; the cls token, if any, is dropped.
        """
        h = self.decoder_embed(latent)
        if self.encoder.cls is not None:
            h = h[:, 1:]  # the decoder predicts patches only
        n, length = ids_restore.shape
        fill = self.mask_token.expand(n, length - h.shape[1], -1)
        h = restore_order(torch.cat([h, fill], dim=1), ids_restore)
        h = self.decoder(h + self.decoder_position)
        return self.decoder_pred(h)

    def forward(
        self,
        x: torch.Tensor,
        ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> MAEOutput:
        """Mask, encode, decode and score: x (N, C, H, W) -> MAEOutput(loss, pred, mask).

        ratio: the share of patches hidden, the model's ``mask_ratio`` if None. At ratio 0 nothing is
        hidden and the loss is over all patches: a plain autoencoder of the same shape, the baseline of a
        timing or a comparison. generator: for repeatable masks.
        """
        ratio = self.mask_ratio if ratio is None else ratio
        latent, mask, ids_restore = self.encoder(x, ratio, generator)
        pred = self.decode(latent, ids_restore)
        scored = mask if ratio > 0 else torch.ones_like(mask)
        loss = masked_patch_loss(
            pred, patchify(x, self.patch_size), scored, self.norm_pix_loss
        )
        return MAEOutput(loss, pred, mask)

    def features(
        self, x: torch.Tensor, pool: str = "mean"
    ) -> torch.Tensor:
        """The encoder's vector per image from all patches, unmasked: x (N, C, H, W) -> (N, dim).

        For a linear probe, in batches: ``predict(mae, x, method="features")``. pool: see
        :meth:`PatchEncoder.features`.
        """
        return self.encoder.features(x, pool)

    def classifier(
        self, n_classes: int, pool: str = "mean"
    ) -> PatchClassifier:
        """A classifier for fine-tuning: a copy of the encoder (this MAE is left as it is) and a new
        linear head, see :class:`PatchClassifier`."""
        return PatchClassifier(self.encoder, n_classes, pool)

    @torch.no_grad()
    def reconstruct(
        self,
        x: torch.Tensor,
        ratio: float | None = None,
        generator: torch.Generator | None = None,
        fill: float = 0.5,
    ) -> Reconstruction:
        """What the model makes of masked images, for a figure: x (N, C, H, W) in [0, 1] -> Reconstruction.

        ratio, generator: as for forward. fill: the value shown on hidden patches of ``masked``.
        With norm_pix_loss the decoder predicts normalised patches; to draw them, each is mapped back with
        the mean and variance of the true patch it stands for (He et al.'s visualisation does the same), so
        such a picture borrows each hidden patch's brightness from the truth. Predictions are clipped to
        [0, 1]. Runs in eval mode.
        """
        self.eval()
        out = self(x, ratio, generator)
        pred = out.pred
        if self.norm_pix_loss:
            target = patchify(x, self.patch_size)
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
            pred = pred * std + mean
        shape, p = self.encoder.image_shape, self.patch_size
        predicted = unpatchify(pred, p, shape).clamp(0, 1)
        mask_image = unpatchify(
            out.mask[..., None].expand(-1, -1, pred.shape[-1]), p, shape
        )
        masked = x * (1 - mask_image) + fill * mask_image
        pasted = x * (1 - mask_image) + predicted * mask_image
        return Reconstruction(masked, predicted, pasted, mask_image)


class PatchClassifier(nn.Module):
    """A copy of a :class:`PatchEncoder` with a linear head: images -> class logits, for fine-tuning.

    encoder: copied, so fine-tuning leaves the pretrained MAE as it is and each run can start afresh from
    it; pass the encoder of a fresh, untrained ``MAE`` for the from-scratch baseline of the same shape.
    n_classes: the number of logits; pool: "mean" or "cls", as in :meth:`PatchEncoder.features`.
    forward: x (N, C, H, W) -> logits (N, n_classes), all patches seen (no masking).
    Train it with ``fit(clf, x, y, loss=F.cross_entropy)``; freeze the encoder first
    (``clf.encoder.requires_grad_(False)``) to train the head alone.
    """

    def __init__(
        self, encoder: PatchEncoder, n_classes: int, pool: str = "mean"
    ):
        super().__init__()
        if not isinstance(encoder, PatchEncoder):
            raise ValueError(
                f"encoder must be a PatchEncoder (e.g. mae.encoder), got {type(encoder).__name__}."
            )
        integer("n_classes", n_classes, low=2)
        if pool not in POOLS:
            raise ValueError(
                f"pool must be one of {POOLS}, got {pool!r}."
            )
        if pool == "cls" and encoder.cls is None:
            raise ValueError(
                "pool='cls' needs an encoder built with cls_token=True."
            )
        self.encoder = copy.deepcopy(encoder)
        self.pool = pool
        self.head = nn.Linear(encoder.dim, n_classes)
        init_weights(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.features(x, self.pool))


def train_mae(
    model: MAE,
    x: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1.5e-3,
    weight_decay: float = 0.05,
    ratio: float | None = None,
    valid: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    desc: str = "pretraining",
) -> History:
    """Pretrain an MAE on images without labels: :func:`aecourse.training.fit` with the MAE's loss.

    x: (N, C, H, W) images. AdamW with β = (0.9, 0.95) and ``weight_decay`` as in He et al. (2021), at a
    constant learning rate ``lr`` (no warm-up or cosine schedule: fit has none, and short runs on small
    images do without). ratio: the share hidden, the model's mask_ratio if None. valid: held-out images,
    scored after every epoch with fresh masks. generator: for repeatable masks and batch order.
    ``history.train`` / ``history.valid`` hold the mean loss per epoch (per-value squared error on the
    hidden patches).
    """
    images("x", x)
    keep_count(
        model.encoder.num_patches,
        model.mask_ratio if ratio is None else ratio,
    )

    def loss(model: MAE, batch: tuple) -> torch.Tensor:
        return model(batch[0], ratio, generator).loss

    # nanoGPT's rule: decay the weight matrices (and the mask and cls tokens), not biases and LayerNorms
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2]},
            {
                "params": [p for p in params if p.dim() < 2],
                "weight_decay": 0.0,
            },
        ],
        lr=lr,
        betas=(0.9, 0.95),
        weight_decay=weight_decay,
    )
    return fit(
        model,
        x,
        batch_loss=loss,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        valid=valid,
        generator=generator,
        progress=progress,
        desc=desc,
    )
