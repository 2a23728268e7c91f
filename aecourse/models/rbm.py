"""Restricted Boltzmann machines trained by contrastive divergence, stacked and unrolled (the pretraining
chapter).

The pretraining chapter leans on this module for the original recipe of Hinton & Salakhutdinov (2006,
"Reducing the dimensionality of data with neural networks"), which the autoencoder stacks of
:mod:`aecourse.models.pretraining` replaced:

1. an RBM (:class:`RBM`) with binary visible units v and binary (or linear, Gaussian) hidden units h has
   the energy E(v, h) = -bᵀv - cᵀh - hᵀWv (+ ½‖h‖² for Gaussian hidden units of unit variance), and so
   the free energy F(v) = -log Σ_h e^{-E(v, h)} (:meth:`RBM.free_energy`);
2. it is trained by one step of contrastive divergence, CD-1 (:func:`train_rbm`), as in Hinton's
   reference code (``rbm.m``, ``rbmhidlinear.m``): positive statistics from the hidden probabilities
   p(h | v₀), a reconstruction v₁ = p(v | h₀) from *sampled* hidden states h₀, negative statistics from
   v₁ and p(h | v₁); the update ΔW ∝ ⟨p(h|v₀) v₀ᵀ⟩ - ⟨p(h|v₁) v₁ᵀ⟩ is exactly minus the gradient of
   F(v₀) - F(v₁) with v₁ held fixed, which is how it is computed here (with the course's one training
   loop, :func:`aecourse.training.fit`, and SGD with momentum; weight decay on the weights only);
3. RBMs are stacked greedily, each trained on the hidden probabilities of the one below (:func:`rbm_stack`,
   :func:`pretrain_rbms` for a :class:`~aecourse.models.pretraining.DeepNet`), and a stack is *unrolled*
   into a deep autoencoder whose decoder starts from the transposed weights (:func:`unroll`).

Defaults are those of the reference code: 50 epochs, mini-batches of 100, learning rate 0.1 (0.001 for
the linear code layer), momentum 0.5 for the first 5 epochs then 0.9, weight cost 0.0002, weights drawn
from N(0, 0.1²) and biases zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import integer
from aecourse.models.autoencoder import Autoencoder, check_sizes
from aecourse.training import fit

HIDDEN_KINDS = ("binary", "gaussian")

# Hinton's reference code: momentum 0.5 for the first 5 epochs ("if epoch>5, momentum=finalmomentum")
MOMENTUM_EPOCHS = 5


class RBM(nn.Module):
    """A restricted Boltzmann machine with n_visible binary visible units and n_hidden hidden units.

    hidden: "binary" (sigmoid units, sampled as 0/1) or "gaussian" (linear units with unit-variance
    Gaussian noise when sampled: the 30 code units of Hinton & Salakhutdinov).
    Parameters: ``weight`` (n_hidden, n_visible), laid out as ``nn.Linear(n_visible, n_hidden).weight`` so
    that it copies into an encoder layer; ``hidden_bias`` (n_hidden,); ``visible_bias`` (n_visible,).
    Initialised as in Hinton's code: weights ~ N(0, 0.1²), biases 0 (``generator``: a CPU generator).
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        hidden: str = "binary",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        integer("n_visible", n_visible, low=1)
        integer("n_hidden", n_hidden, low=1)
        if hidden not in HIDDEN_KINDS:
            raise ValueError(
                f"Unknown hidden unit kind {hidden!r}: expected one of {HIDDEN_KINDS}."
            )
        self.hidden = hidden
        self.weight = nn.Parameter(
            0.1 * torch.randn(n_hidden, n_visible, generator=generator)
        )
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))

    @property
    def n_visible(self) -> int:
        return self.weight.shape[1]

    @property
    def n_hidden(self) -> int:
        return self.weight.shape[0]

    def _check(self, name: str, t: torch.Tensor, n: int) -> None:
        if t.dim() != 2 or t.shape[1] != n:
            raise ValueError(
                f"{name} must have shape (N, {n}), got {tuple(t.shape)}."
            )

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """The hidden units' total input v Wᵀ + c: (N, n_visible) -> (N, n_hidden)."""
        self._check("v", v, self.n_visible)
        return F.linear(v, self.weight, self.hidden_bias)

    def hidden_mean(self, v: torch.Tensor) -> torch.Tensor:
        """E[h | v]: sigmoid(v Wᵀ + c) for binary hidden units, v Wᵀ + c for Gaussian ones.

        v: (N, n_visible) -> (N, n_hidden).
        """
        a = self.hidden_input(v)
        return torch.sigmoid(a) if self.hidden == "binary" else a

    def sample_hidden(
        self, mean: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A sample of h given its mean (N, n_hidden): 0/1 with P(1) = mean, or mean + N(0, 1) noise.

        generator: one on mean's device (e.g. a CPU generator for CPU tensors), or None for the global one.
        """
        if self.hidden == "binary":
            u = torch.rand(
                mean.shape,
                generator=generator,
                device=mean.device,
                dtype=mean.dtype,
            )
            return (u < mean).to(mean.dtype)
        noise = torch.randn(
            mean.shape,
            generator=generator,
            device=mean.device,
            dtype=mean.dtype,
        )
        return mean + noise

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """p(v = 1 | h) = sigmoid(h W + b): (N, n_hidden) -> (N, n_visible)."""
        self._check("h", h, self.n_hidden)
        return torch.sigmoid(h @ self.weight + self.visible_bias)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log Σ_h exp(-E(v, h)), so that p(v) = exp(-F(v)) / Z: (N, n_visible) -> (N,).

        Binary hidden units: F(v) = -bᵀv - Σ_j softplus(a_j), with a = Wv + c.
        Gaussian hidden units (unit variance): F(v) = -bᵀv - ½‖a‖² - (n_hidden/2) log 2π.
        """
        a = self.hidden_input(v)
        visible = v @ self.visible_bias
        if self.hidden == "binary":
            return -visible - F.softplus(a).sum(1)
        log_2pi = torch.log(torch.tensor(2 * torch.pi, dtype=v.dtype))
        return (
            -visible
            - 0.5 * (a * a).sum(1)
            - 0.5 * self.n_hidden * log_2pi.to(v.device)
        )

    def reconstruct(
        self, v: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One CD step's reconstruction p(v | h₀), h₀ sampled from p(h | v): (N, n_visible) -> same."""
        return self.visible_mean(
            self.sample_hidden(self.hidden_mean(v), generator)
        )


def cd1_loss(
    rbm: RBM, v0: torch.Tensor, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """The CD-1 surrogate loss of a batch v0 (B, n_visible): its gradient is minus Hinton's CD-1 update.

    Returns {"loss": mean F(v₀) - mean F(v₁), "error": mean over the batch of ‖v₀ - v₁‖²}, where the
    reconstruction v₁ = p(v | h₀), h₀ ~ p(h | v₀), is held fixed (no gradient flows into it). Then
    -∂loss/∂W = (p(h|v₀)ᵀ v₀ - p(h|v₁)ᵀ v₁) / B, -∂loss/∂c = mean(p(h|v₀) - p(h|v₁)), -∂loss/∂b =
    mean(v₀ - v₁): the positive minus the negative statistics of ``rbm.m``.
    """
    with torch.no_grad():
        v1 = rbm.reconstruct(v0, generator)
    loss = rbm.free_energy(v0).mean() - rbm.free_energy(v1).mean()
    error = ((v0 - v1) ** 2).sum(1).mean()
    return {"loss": loss, "error": error.detach()}


def _momenta(momentum) -> tuple[float, float]:
    if isinstance(momentum, (int, float)) and not isinstance(
        momentum, bool
    ):
        momentum = (momentum, momentum)
    if (
        not isinstance(momentum, (tuple, list))
        or len(momentum) != 2
        or not all(
            isinstance(m, (int, float))
            and not isinstance(m, bool)
            and 0 <= m < 1
            for m in momentum
        )
    ):
        raise ValueError(
            "momentum must be a number in [0, 1) or a pair (first 5 epochs, after), "
            f"got {momentum!r}."
        )
    return float(momentum[0]), float(momentum[1])


def train_rbm(
    x: torch.Tensor,
    n_hidden: int,
    *,
    epochs: int = 50,
    lr: float = 0.1,
    batch_size: int = 100,
    momentum=(0.5, 0.9),
    weight_decay: float = 2e-4,
    hidden: str = "binary",
    generator: torch.Generator | None = None,
    progress: bool = False,
    desc: str = "RBM",
) -> tuple[RBM, list[float]]:
    """Train an RBM with n_hidden hidden units on x by CD-1, as Hinton's ``rbm.m`` / ``rbmhidlinear.m``.

    x: (N, n_visible) in [0, 1] (pixel intensities or the hidden probabilities of the RBM below, used as
    they are, not sampled). SGD on mini-batches of ``batch_size`` with learning rate ``lr`` for weights
    and biases alike; momentum: a pair (for the first 5 epochs, after), or one number for all epochs;
    weight_decay: the weight cost, on ``weight`` only. hidden: "binary" or "gaussian" (see :class:`RBM`).
    generator: a CPU generator for the initial weights and the shuffle, and for the samples when x is on
    the CPU (on another device they come from that device's global generator).
    Returns (rbm on x's device, the mean squared reconstruction error ‖v - v₁‖² per example of each
    epoch, summed over the visible units).
    """
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(
            f"x must be a non-empty batch of vectors (N, n_visible), got shape {tuple(x.shape)}."
        )
    if bool(x.min() < 0) or bool(x.max() > 1):
        raise ValueError(
            "x must lie in [0, 1] (the visible units are binary: their probabilities)."
        )
    integer("n_hidden", n_hidden, low=1)
    integer("epochs", epochs, low=0)
    integer("batch_size", batch_size, low=1)
    if not lr > 0:
        raise ValueError(
            f"lr must be a positive learning rate, got {lr!r}."
        )
    if not weight_decay >= 0:
        raise ValueError(
            f"weight_decay must be >= 0, got {weight_decay!r}."
        )
    first, final = _momenta(momentum)
    rbm = RBM(x.shape[1], n_hidden, hidden, generator=generator)
    rbm = rbm.to(device=x.device, dtype=x.dtype)
    optimizer = torch.optim.SGD(
        [
            {"params": [rbm.weight], "weight_decay": weight_decay},
            {"params": [rbm.hidden_bias, rbm.visible_bias]},
        ],
        lr=lr,
        momentum=first,
    )
    sampler = generator if x.device.type == "cpu" else None

    def batch_loss(model: RBM, batch: tuple) -> dict[str, torch.Tensor]:
        return cd1_loss(model, batch[0], sampler)

    errors: list[float] = []
    for n, m in (
        (min(epochs, MOMENTUM_EPOCHS), first),
        (max(epochs - MOMENTUM_EPOCHS, 0), final),
    ):
        if n == 0:
            continue
        for group in optimizer.param_groups:
            group["momentum"] = m
        history = fit(
            rbm,
            x,
            batch_loss=batch_loss,
            epochs=n,
            batch_size=batch_size,
            optimizer=optimizer,
            generator=generator,
            progress=progress,
            desc=desc,
        )
        errors += history.metrics["error"]
    rbm.eval()
    return rbm, errors


def rbm_stack(
    x: torch.Tensor,
    sizes,
    *,
    top: str = "binary",
    epochs: int = 50,
    lr: float = 0.1,
    top_lr: float | None = None,
    batch_size: int = 100,
    momentum=(0.5, 0.9),
    weight_decay: float = 2e-4,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[list[RBM], list[list[float]]]:
    """Greedily train a stack of RBMs with layer sizes ``sizes`` = [n_visible, h1, ..., hL] on x.

    x: (N, sizes[0]) in [0, 1]. RBM l is trained (:func:`train_rbm`) on the hidden probabilities
    p(h | v) of RBM l-1 on every training input (the data themselves for l = 1). top: the hidden kind of
    the last RBM ("gaussian" for the linear code layer of Hinton & Salakhutdinov), trained with learning
    rate ``top_lr`` (default: ``lr``; their code uses 0.001). Returns (the L RBMs, their error histories).
    """
    sizes = check_sizes(sizes)
    if x.dim() != 2 or x.shape[1] != sizes[0]:
        raise ValueError(
            f"x must have shape (N, {sizes[0]}) for sizes {sizes}, got {tuple(x.shape)}."
        )
    if top not in HIDDEN_KINDS:
        raise ValueError(
            f"Unknown hidden unit kind {top!r}: expected one of {HIDDEN_KINDS}."
        )
    rbms, errors = [], []
    h = x
    depth = len(sizes) - 1
    for l, n_hidden in enumerate(sizes[1:], start=1):
        last = l == depth
        rbm, err = train_rbm(
            h,
            n_hidden,
            epochs=epochs,
            lr=(top_lr or lr) if last else lr,
            batch_size=batch_size,
            momentum=momentum,
            weight_decay=weight_decay,
            hidden=top if last else "binary",
            generator=generator,
            progress=progress,
            desc=f"RBM {l}/{depth}",
        )
        rbms.append(rbm)
        errors.append(err)
        if not last:
            with torch.no_grad():
                h = rbm.hidden_mean(h)
    return rbms, errors


def pretrain_rbms(
    net: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int = 50,
    lr: float = 0.1,
    batch_size: int = 100,
    momentum=(0.5, 0.9),
    weight_decay: float = 2e-4,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[list[float]]:
    """Greedy RBM pretraining of the hidden layers of a sigmoid
    :class:`~aecourse.models.pretraining.DeepNet`, in place.

    x: (N, *shape) unlabelled training inputs in [0, 1], e.g. (N, 1, 28, 28) images. A stack of binary
    RBMs with the net's layer sizes is trained (:func:`rbm_stack`), and RBM l's weight and hidden bias are
    copied into ``net.hidden[l-1]``, as :func:`aecourse.models.pretraining.pretrain` does with
    autoencoders. The output layer is left as it was. Returns the L RBMs' reconstruction error histories.
    """
    # duck-typed, so that this module (and the results it makes) does not depend on the pretraining module
    if not (
        isinstance(getattr(net, "hidden", None), nn.ModuleList)
        and hasattr(net, "sizes")
        and hasattr(net, "activation")
    ):
        raise ValueError(
            f"net must be a DeepNet, got {type(net).__name__}."
        )
    if net.activation != "sigmoid":
        raise ValueError(
            f"RBM hidden units are sigmoid units: the net's activation must be 'sigmoid', "
            f"got {net.activation!r}."
        )
    rbms, errors = rbm_stack(
        x.flatten(1),
        net.sizes,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        momentum=momentum,
        weight_decay=weight_decay,
        generator=generator,
        progress=progress,
    )
    with torch.no_grad():
        for layer, rbm in zip(net.hidden, rbms):
            layer.weight.copy_(rbm.weight)
            layer.bias.copy_(rbm.hidden_bias)
    return errors


def unroll(rbms: list[RBM]) -> Autoencoder:
    """The deep autoencoder of a stack of RBMs, as in Hinton & Salakhutdinov (2006), Fig. 1.

    rbms: [RBM(d, h1), RBM(h1, h2), ..., RBM(h_{L-1}, h_L)], all binary but possibly the last ("gaussian":
    a linear code layer). Returns an :class:`Autoencoder` with sizes [d, h1, ..., h_L], sigmoid hidden
    layers and output, whose encoder layer l has RBM l's weight W_l and hidden bias, and whose decoder
    layer for RBM l starts at W_lᵀ with its visible bias. Encoder and decoder are separate parameters (the
    paper fine-tunes them untied); the autoencoder is on the RBMs' device. x: (N, d) -> x̂ (N, d).
    """
    if not rbms or not all(isinstance(r, RBM) for r in rbms):
        raise ValueError("rbms must be a non-empty list of RBMs.")
    if any(r.hidden != "binary" for r in rbms[:-1]):
        raise ValueError(
            "Only the last RBM may have Gaussian (linear) hidden units."
        )
    sizes = [rbms[0].n_visible] + [r.n_hidden for r in rbms]
    for below, above in zip(rbms[:-1], rbms[1:]):
        if above.n_visible != below.n_hidden:
            raise ValueError(
                f"RBM sizes do not chain: {below.n_hidden} hidden units below, {above.n_visible} "
                "visible units above."
            )
    code = "linear" if rbms[-1].hidden == "gaussian" else "sigmoid"
    ae = Autoencoder(
        sizes,
        activation="sigmoid",
        code_activation=code,
        output="sigmoid",
    )
    ae = ae.to(device=rbms[0].weight.device, dtype=rbms[0].weight.dtype)
    encoder = [m for m in ae.encoder.layers if isinstance(m, nn.Linear)]
    decoder = [m for m in ae.decoder.layers if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for rbm, enc, dec in zip(rbms, encoder, decoder[::-1]):
            enc.weight.copy_(rbm.weight)
            enc.bias.copy_(rbm.hidden_bias)
            dec.weight.copy_(rbm.weight.T)
            dec.bias.copy_(rbm.visible_bias)
    return ae
