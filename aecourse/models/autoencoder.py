"""Fully connected autoencoders: an ``Encoder``, a mirrored ``Decoder`` and the ``Autoencoder`` joining them.

The hourglass of the structure chapter and the 8-3-8 network of the number-system chapter are both built
here from a list of layer sizes: ``Autoencoder([784, 256, 32])`` has the encoder 784 → 256 → 32 and the
decoder 32 → 256 → 784.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def check_sizes(sizes) -> list[int]:
    """Layer sizes [input, hidden..., code] as a list of ints: at least two, each positive.

    Used by every fully connected model (and by the hourglass figure of :mod:`aecourse.teaching.plots`).
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(
            f"Layer sizes must be at least two positive integers, e.g. [784, 32]; got {sizes}."
        )
    return sizes


def _stack(sizes: list[int], hidden: str, last: str) -> nn.Sequential:
    """Linear layers between consecutive sizes, ``hidden`` after each but the last, ``last`` after it."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        act = hidden if i < len(sizes) - 2 else last
        if act != "linear":
            layers.append(_activation(act))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x ↦ code z = 𝓔(x) through fully connected layers.

    sizes: [input, hidden..., code], e.g. [784, 256, 32]. activation: after each hidden layer
    ("relu", "sigmoid", "tanh" or "linear"). code_activation: after the code layer ("linear" by default).
    normalize_code: a batch normalisation (``nn.BatchNorm1d``) between the code layer and its activation.
    It keeps every code unit's values spread over each batch, so a sigmoid code cannot saturate the same way
    for every input and stay stuck there (the binary codes of semantic hashing in the applications
    chapter); its learned scale still lets the units saturate, one way for some inputs and the other way
    for others. Like any batch normalisation it uses batch statistics in training (batches of at least 2)
    and running averages after ``model.eval()``.
    Input (N, *shape) with prod(shape) == sizes[0] (images are flattened) -> code (N, sizes[-1]).
    """

    def __init__(
        self,
        sizes,
        activation: str = "relu",
        code_activation: str = "linear",
        normalize_code: bool = False,
    ):
        super().__init__()
        self.sizes = check_sizes(sizes)
        # fail early on a bad name
        (_activation(activation), _activation(code_activation))
        self.layers = _stack(self.sizes, activation, code_activation)
        if normalize_code:
            before_activation = len(self.layers) - (
                0 if code_activation == "linear" else 1
            )
            self.layers.insert(
                before_activation, nn.BatchNorm1d(self.sizes[-1])
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_in = self.sizes[0]
        if x.dim() < 2 or math.prod(x.shape[1:]) != n_in:
            raise ValueError(
                f"Encoder expects a batch of shape (N, {n_in}) or (N, ...) with {n_in} values per example; "
                f"got {tuple(x.shape)}."
            )
        return self.layers(x.flatten(1))


class Decoder(nn.Module):
    """code z ↦ reconstruction x̂ = 𝓓(z) through fully connected layers.

    sizes: [code, hidden..., output], e.g. [32, 256, 784]. output: activation of the last layer
    ("sigmoid" for data in [0, 1], "linear" for real-valued data).
    Input (N, sizes[0]) -> output (N, sizes[-1]).
    """

    def __init__(
        self, sizes, activation: str = "relu", output: str = "sigmoid"
    ):
        super().__init__()
        self.sizes = check_sizes(sizes)
        _activation(activation), _activation(output)
        self.layers = _stack(self.sizes, activation, output)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.sizes[0]:
            raise ValueError(
                f"Decoder expects codes of shape (N, {self.sizes[0]}); got {tuple(z.shape)}."
            )
        return self.layers(z)


class Autoencoder(nn.Module):
    """The hourglass: x̂ = 𝓓(𝓔(x)), with the decoder mirroring the encoder's sizes.

    sizes: the encoder's [input, hidden..., code]; the decoder gets them reversed.
    activation: hidden layers of both halves ("linear" everywhere gives the linear autoencoder of PCA).
    code_activation: after the code layer. output: after the last decoder layer.
    code_noise: standard deviation of Gaussian noise added to the code while training (0 = none); at
    evaluation (``model.eval()``) no noise is added. A noisy code rewards codes that stay far apart, as in
    the binary codes of semantic hashing (Salakhutdinov & Hinton 2009). It does not make the 8-3-8 code of
    the number-system chapter reliably binary: started early, it makes two inputs share a corner.
    normalize_code: see :class:`Encoder` (a batch normalisation before the code activation).
    forward: (N, *shape) -> x̂ of the same shape; encode: (N, *shape) -> (N, code).
    """

    def __init__(
        self,
        sizes,
        activation: str = "relu",
        code_activation: str = "linear",
        output: str = "sigmoid",
        code_noise: float = 0.0,
        normalize_code: bool = False,
    ):
        super().__init__()
        sizes = check_sizes(sizes)
        if code_noise < 0:
            raise ValueError(
                f"code_noise is a standard deviation and must be >= 0, got {code_noise}."
            )
        self.code_noise = float(code_noise)
        self.encoder = Encoder(
            sizes, activation, code_activation, normalize_code
        )
        self.decoder = Decoder(sizes[::-1], activation, output)

    @property
    def code_size(self) -> int:
        return self.encoder.sizes[-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        if self.training and self.code_noise > 0:
            z = z + self.code_noise * torch.randn_like(z)
        return self.decoder(z).reshape(x.shape)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
