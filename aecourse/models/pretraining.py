"""Greedy layer-wise pretraining of a deep classifier with autoencoders, then supervised fine-tuning (the
pretraining chapter).

The pretraining chapter leans on this module. The recipe of Bengio et al. (2007) and Larochelle et al.
(2007, 2009), after Hinton & Salakhutdinov (2006), who used RBMs where we use autoencoders:

1. for l = 1, ..., L: take the representation h^(l-1)(x) of every training input (h^(0)(x) = x), train a
   one-hidden-layer autoencoder on it without labels (a *greedy module*), and keep its encoder
   h^(l) = s(W_l h^(l-1) + b_l) as layer l of the deep net (:func:`pretrain`, :func:`pretrain_layer`);
2. put a randomly initialised output layer on top and train the whole network with backpropagation on the
   labels (:func:`fine_tune`), then count its mistakes on test data (:func:`test_error`).

The deep net is a plain multilayer perceptron, :class:`DeepNet`. With noise the greedy modules are denoising
autoencoders, and the stack is the stacked denoising autoencoder of Vincent et al. (2008, 2010).

Two settings are compared in the chapter, and nothing here is fixed to either: the *era* setting of the
2007 papers (sigmoid units, plain stochastic gradient descent: ``activation="sigmoid", optimizer="sgd"``)
and a *modern* one (``activation="relu", optimizer="adam"``). PyTorch's default initialisation of
``nn.Linear`` draws weights uniformly in ±1/√fan_in, the "commonly used heuristic" of that time (Glorot &
Bengio 2010, eq. 1), so "no pretraining" starts about where the papers' random nets did. The functions'
default learning rates and mini-batch size are the era setting's (plain SGD on mini-batches of 20: 0.1 for
the greedy modules, whose loss is summed over the inputs, 1.0 for fine-tuning); pass lr≈1e-3 with "adam".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import indices, integer
from aecourse.models.autoencoder import (
    ACTIVATIONS,
    Autoencoder,
    check_sizes,
)
from aecourse.ops.corruptions import mask
from aecourse.training import History, fit, predict

HIDDEN_ACTIVATIONS = ("sigmoid", "relu", "tanh")

# "sgd" is plain stochastic gradient descent without momentum, as in the experiments of the 2007 papers
# (Bengio et al.; Larochelle et al.), so it is the one the era setting uses. "momentum" adds classical
# momentum 0.9, the usual way to speed plain SGD up; "adam" is today's default.
OPTIMIZERS = ("sgd", "momentum", "adam")

Noise = Callable[[torch.Tensor], torch.Tensor]


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The optimizer called ``name`` ("sgd", "momentum" or "adam") over ``params`` with learning rate lr."""
    if name not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer {name!r}: expected one of {OPTIMIZERS}."
        )
    if not lr > 0:
        raise ValueError(
            f"lr must be a positive learning rate, got {lr!r}."
        )
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.Adam(params, lr=lr)


class DeepNet(nn.Module):
    """A multilayer perceptron classifier: L hidden layers of ``activation`` units, then a linear output layer.

    sizes: [input, h1, ..., hL], e.g. [784, 500, 500, 500] for three hidden layers (at least one).
    n_classes: number of outputs (logits). activation: "sigmoid", "relu" or "tanh".
    Attributes: ``hidden``, an nn.ModuleList of the L nn.Linear layers (the ones pretraining initialises);
    ``output``, the nn.Linear from hL to n_classes; ``activation``, the name of the hidden units' activation.
    forward: (N, *shape) with prod(shape) == sizes[0], e.g. (N, 1, 28, 28) images -> logits (N, n_classes).
    """

    def __init__(
        self, sizes, n_classes: int = 10, activation: str = "sigmoid"
    ):
        super().__init__()
        self.sizes = check_sizes(sizes)
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}: expected one of {HIDDEN_ACTIVATIONS}."
            )
        integer("n_classes", n_classes, low=2)
        self.activation = activation
        self.act = ACTIVATIONS[activation]()
        self.hidden = nn.ModuleList(
            nn.Linear(n_in, n_out)
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])
        )
        self.output = nn.Linear(self.sizes[-1], n_classes)

    @property
    def depth(self) -> int:
        """The number of hidden layers L."""
        return len(self.hidden)

    def features(self, x: torch.Tensor, depth: int) -> torch.Tensor:
        """h^(depth)(x): the representation after the first ``depth`` hidden layers.

        x: (N, *shape) -> (N, sizes[depth]); depth 0 is the flattened input itself, depth L the last hidden
        layer. Raises ValueError if depth is not in 0..L or x does not have sizes[0] values per example.
        """
        if not isinstance(depth, int) or not 0 <= depth <= self.depth:
            raise ValueError(
                f"depth must be an integer from 0 to {self.depth} (the number of hidden layers), "
                f"got {depth!r}."
            )
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.sizes[0]:
            raise ValueError(
                f"DeepNet expects a batch (N, {self.sizes[0]}) or (N, ...) with {self.sizes[0]} "
                f"values per example; got {tuple(x.shape)}."
            )
        h = x.flatten(1)
        for layer in self.hidden[:depth]:
            h = self.act(layer(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x, self.depth))


def layer_gradient_norms(
    net: DeepNet, x: torch.Tensor, y: torch.Tensor
) -> list[float]:
    """‖∂L/∂W‖_F of every layer's weight matrix, hidden layers first, then the output layer.

    x: (N, *shape) inputs, y: (N,) class indices; L is the mean cross-entropy of ``net`` on them. One
    backward pass; the net's parameters are not changed and their ``.grad`` is left as it was.
    """
    _check_labels(x, y)
    weights = [layer.weight for layer in net.hidden] + [net.output.weight]
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    return [g.norm().item() for g in grads]


# --- the greedy module -----------------------------------------------------------------------------


def reconstruction_for(x: torch.Tensor) -> tuple[str, str]:
    """The (output activation, loss) of an autoencoder that reconstructs x: (N, d) -> e.g. ("sigmoid", "bce").

    Inputs that all lie in [0, 1] (pixels, sigmoid units) get a sigmoid output and the Bernoulli
    cross-entropy, as in Bengio et al. (2007): the sigmoid keeps the reconstruction in (0, 1), where the
    cross-entropy is defined. Any other inputs (ReLU units are unbounded above, tanh units negative) get a
    linear output and the squared error: a sigmoid could not reach them.
    """
    in_unit_interval = bool(x.min() >= 0) and bool(x.max() <= 1)
    return ("sigmoid", "bce") if in_unit_interval else ("linear", "mse")


def _corruption(noise: float | Noise | None) -> Noise | None:
    """noise as fit() wants it: None, a function xb -> x̃b, or a float ν meaning masking noise of level ν."""
    if noise is None or callable(noise):
        return noise
    if (
        isinstance(noise, (int, float))
        and not isinstance(noise, bool)
        and 0 <= noise <= 1
    ):
        nu = float(noise)
        return lambda xb: mask(xb, nu)
    raise ValueError(
        f"noise must be None, a masking level ν in [0, 1] or a function xb -> corrupted xb; "
        f"got {noise!r}."
    )


def pretrain_layer(
    x: torch.Tensor,
    n_hidden: int,
    activation: str = "sigmoid",
    epochs: int = 10,
    lr: float = 0.1,
    batch_size: int = 20,
    noise: float | Noise | None = None,
    optimizer: str = "sgd",
    progress: bool = True,
    desc: str = "greedy module",
) -> tuple[Autoencoder, History]:
    """Train one greedy module: an autoencoder d -> n_hidden -> d on x, without labels.

    x: (N, d), the representation of the training inputs at the layer below. The hidden layer has
    ``activation`` units; output and loss follow :func:`reconstruction_for` (sigmoid + "bce" for inputs in
    [0, 1], linear + "mse" otherwise). noise: None for an ordinary autoencoder, or a denoising one with a
    masking level ν (a float) or a function xb -> x̃b; the loss always compares with the clean x.
    optimizer: "sgd" (plain), "momentum" or "adam" (see :data:`OPTIMIZERS`).
    Returns (autoencoder, history); ``autoencoder.encoder.layers[0]`` is its hidden layer's nn.Linear
    (weight (n_hidden, d), bias (n_hidden,)). Encoder and decoder weights are separate (not tied).
    """
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(
            f"x must be a non-empty batch of vectors (N, d), got shape {tuple(x.shape)}."
        )
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {activation!r}: expected one of {HIDDEN_ACTIVATIONS}."
        )
    output, loss = reconstruction_for(x)
    ae = Autoencoder(
        [x.shape[1], n_hidden],
        activation=activation,
        code_activation=activation,
        output=output,
    )
    ae = ae.to(device=x.device, dtype=x.dtype)
    history = fit(
        ae,
        x,
        loss=loss,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=make_optimizer(optimizer, ae.parameters(), lr),
        noise=_corruption(noise),
        progress=progress,
        desc=desc,
    )
    return ae, history


# --- the algorithm ---------------------------------------------------------------------------------


def pretrain(
    net: DeepNet,
    x: torch.Tensor,
    epochs: int = 10,
    lr: float = 0.1,
    batch_size: int = 20,
    noise: float | Noise | None = None,
    optimizer: str = "sgd",
    progress: bool = True,
) -> list[History]:
    """Greedy layer-wise pretraining: initialise every hidden layer of ``net`` from an autoencoder, in place.

    x: (N, *shape) unlabelled training inputs, e.g. (N, 1, 28, 28) images in [0, 1]. Layer l's autoencoder
    is trained on h^(l-1)(x) for ``epochs`` epochs (noise, optimizer as in :func:`pretrain_layer`), and its
    encoder's weight and bias are copied into ``net.hidden[l-1]``. The output layer is left as it was.
    Returns the L greedy modules' loss histories, layer 1 first.
    """
    if not isinstance(net, DeepNet):
        raise ValueError(
            f"net must be a DeepNet, got {type(net).__name__}."
        )
    histories = []
    for l, layer in enumerate(net.hidden, start=1):
        # The unsupervised training set of layer l: h^(l-1)(x_t) for every t, computed once through the
        # layers already pretrained (h^(0)(x) = x). No gradients: the layers below stay as they are.
        with torch.no_grad():
            h = net.features(x, l - 1)
        # Train the greedy module on it: an autoencoder with one hidden layer of the size of layer l.
        ae, history = pretrain_layer(
            h,
            layer.out_features,
            net.activation,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            noise=noise,
            optimizer=optimizer,
            progress=progress,
            desc=f"pretraining layer {l}/{net.depth}",
        )
        # Keep its encoder, s(W h + b), as layer l of the deep net; the decoder is thrown away.
        encoder = ae.encoder.layers[0]
        with torch.no_grad():
            layer.weight.copy_(encoder.weight)
            layer.bias.copy_(encoder.bias)
        histories.append(history)
    return histories


def _check_labels(x: torch.Tensor, y: torch.Tensor) -> None:
    if y.dim() != 1 or len(y) != len(x):
        raise ValueError(
            f"y must hold one class index per input, shape ({len(x)},); got {tuple(y.shape)}."
        )
    indices("y", y, "class indices")


def fine_tune(
    net: DeepNet,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 10,
    lr: float = 1.0,
    batch_size: int = 20,
    optimizer: str = "sgd",
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    freeze_hidden: bool = False,
    progress: bool = True,
    desc: str = "fine-tuning",
) -> History:
    """Supervised training of ``net`` with backpropagation of the cross-entropy, in place.

    x: (N, *shape) inputs; y: (N,) int64 class indices. test: (x_test, y_test), whose cross-entropy is
    recorded after each epoch in ``history.test``. freeze_hidden: train only the output layer, so the
    hidden layers stay exactly as they are (the "frozen features" baseline); otherwise all layers are trained.
    Returns the history of the mean cross-entropy per epoch (nats).
    """
    _check_labels(x, y)
    trained = net.output if freeze_hidden else net
    frozen = (
        [p for p in net.hidden.parameters() if p.requires_grad]
        if freeze_hidden
        else []
    )
    for p in frozen:  # no gradient flows into the hidden layers at all, which also saves their backward pass
        p.requires_grad_(False)
    try:
        return fit(
            net,
            x,
            y,
            loss=F.cross_entropy,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=make_optimizer(optimizer, trained.parameters(), lr),
            test=test,
            progress=progress,
            desc=desc,
        )
    finally:
        for p in frozen:
            p.requires_grad_(True)


@torch.no_grad()
def test_error(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
) -> float:
    """The fraction of inputs whose most probable class is not the label: x (N, *shape), y (N,) -> in [0, 1].

    Computed in batches of ``batch_size`` without gradients (``net`` is left in eval mode).
    """
    _check_labels(x, y)
    if len(x) == 0:
        raise ValueError("test_error needs at least one example.")
    wrong = predict(net, x, batch_size=batch_size).argmax(1) != y
    return wrong.double().mean().item()


test_error.__test__ = False  # its name starts with "test": this stops pytest collecting it where it is imported
