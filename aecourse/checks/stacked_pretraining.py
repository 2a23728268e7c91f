"""Checkers of the stacked pretraining chapter's exercises: gradient norms per layer, greedy layer-wise
pretraining, frozen training."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from aecourse.checks._verdict import (
    _call,
    _close,
    _count,
    _known_slip,
    _seeded,
    _shape_or_type,
    _verdict,
    exercise,
)


@exercise("ex-greedy")
def check_greedy_pretraining(fn: Callable) -> bool:
    """fn(net, x, train_module) pretrains net's hidden layers greedily, in place.

    For l = 1..L it must build h^(l-1)(x) (x flattened for l = 1) through the layers already pretrained,
    without gradients, call ``train_module(h, n_out)`` -> nn.Linear(d, n_out), and copy that layer's
    weight and bias into ``net.hidden[l-1]``; the output layer stays as it was.
    """
    # Here, not at the top: checks must not import the whole course.
    from aecourse.models.pretraining import DeepNet

    with _seeded(7):
        net = DeepNet([12, 8, 6, 5], n_classes=3)
        # "images" with 12 pixels: the first layer needs them flattened
        x = torch.rand(40, 1, 3, 4)
    original = [p.detach().clone() for p in net.parameters()]
    calls, returned = [], []

    def train_module(h, n_out):
        """A stand-in for a trained autoencoder's encoder: a Linear layer that depends on h."""
        if not isinstance(h, torch.Tensor) or h.dim() != 2:
            raise ValueError(
                f"train_module needs the training set as a (N, d) batch of vectors, one row per "
                f"input (flattened), got {_shape_or_type(h)}"
            )
        l, d = len(calls) + 1, h.shape[1]
        if l <= net.depth and d != net.sizes[l - 1]:
            raw = (
                " (it got the raw inputs)"
                if l > 1 and d == net.sizes[0]
                else ""
            )
            raise ValueError(
                f"layer {l}'s greedy module got {d} values per input{raw}; it must be trained "
                f"on h^({l - 1})(x), the {net.sizes[l - 1]} outputs of the pretrained layer(s) "
                "below"
            )
        calls.append((h.detach().clone(), n_out, h.requires_grad))
        layer = torch.nn.Linear(d, n_out)
        with torch.no_grad():
            grid = torch.arange(n_out * d, dtype=torch.float32).reshape(
                n_out, d
            )
            layer.weight.copy_(
                torch.sin(grid + 10 * h.mean()) / math.sqrt(d)
            )
            layer.bias.copy_(
                torch.cos(torch.arange(n_out, dtype=torch.float32))
                - h.mean()
            )
        returned.append(layer)
        return layer

    _, problem = _call(fn, net, x, train_module)
    if problem:
        return _verdict(False, problem)
    if len(calls) != net.depth:
        return _verdict(
            False,
            f"train_module was called {_count(len(calls), 'time')}; the net has "
            f"{_count(net.depth, 'hidden layer')}: train one greedy module per layer.",
        )
    flat = x.flatten(1)
    random_h = flat
    for l, ((h, n_out, needs_grad), layer) in enumerate(
        zip(calls, returned), start=1
    ):
        expected = flat
        for below in returned[: l - 1]:
            expected = torch.sigmoid(below(expected)).detach()
        if n_out != net.sizes[l]:
            return _verdict(
                False,
                f"layer {l} has {net.sizes[l]} units; its greedy module was asked for "
                f"{n_out}.",
            )
        if needs_grad:
            return _verdict(
                False,
                f"the training set of layer {l} carries gradients back into the layers "
                "below: compute it under torch.no_grad() (the layers below stay fixed while "
                "layer l trains).",
            )
        if h.shape != expected.shape:
            return _verdict(
                False,
                f"layer {l}'s training set should have shape {tuple(expected.shape)} (one "
                f"row h^({l - 1})(x) per input, flattened), got {tuple(h.shape)}.",
            )
        if not torch.allclose(h, expected, atol=1e-5):
            if l > 1 and torch.allclose(h, random_h, atol=1e-5):
                return _verdict(
                    False,
                    f"layer {l} was trained on h^({l - 1}) computed with the layers below "
                    "as they were *before* pretraining: copy each trained layer into the net "
                    "before building the next training set.",
                )
            below = returned[l - 2] if l > 1 else None
            if below is not None and torch.allclose(
                h, below(calls[l - 2][0]).detach(), atol=1e-5
            ):
                return _verdict(
                    False,
                    f"layer {l}'s training set misses the activation: h^({l - 1}) = "
                    f"sigmoid(W h^({l - 2}) + b), not the affine part alone.",
                )
            # (Raw inputs in place of h^(l-1) never get here: their width is refused in train_module.)
            return _verdict(
                False,
                f"layer {l} was not trained on h^({l - 1})(x), the output of the {l - 1} "
                "pretrained layer(s) below it.",
            )
        random_h = torch.sigmoid(
            F.linear(random_h, original[2 * (l - 1)], original[2 * l - 1])
        )
        mine = net.hidden[l - 1]
        if not torch.equal(mine.weight.detach(), layer.weight.detach()):
            return _verdict(
                False,
                f"net.hidden[{l - 1}].weight is not the weight of layer {l}'s greedy "
                "module: copy it in (with torch.no_grad(): net.hidden[l - 1].weight.copy_(...)).",
            )
        if not torch.equal(mine.bias.detach(), layer.bias.detach()):
            return _verdict(
                False,
                f"the weight of layer {l} was copied but not its bias.",
            )
    if not all(
        torch.equal(a, b)
        for a, b in zip(net.output.parameters(), original[-2:])
    ):
        return _verdict(
            False,
            "the output layer changed: leave it random, it is trained only when "
            "fine-tuning.",
        )
    return _verdict(
        True,
        "each layer is trained on the codes of the pretrained layers below it and copied "
        "into the net.",
    )


@exercise("ex-freeze")
def check_frozen_training(fn: Callable) -> bool:
    """fn(net, x, y, epochs) trains only net.output on (x, y), in place; the hidden layers must not change."""
    # Not at the top, as in check_greedy_pretraining.
    from aecourse.models.pretraining import DeepNet
    from aecourse.training import fit

    with _seeded(8):
        centres = 3.0 * torch.randn(4, 12)
        y = torch.arange(200) % 4
        x = torch.sigmoid(centres[y] + 0.5 * torch.randn(200, 12))
        net = DeepNet([12, 10, 8], n_classes=4)
        # Hidden layers worth keeping: train the whole net briefly, then start the output layer afresh.
        fit(
            net,
            x,
            y,
            loss=F.cross_entropy,
            epochs=100,
            batch_size=len(x),
            lr=0.05,
            progress=False,
        )
        net.output.reset_parameters()
        before = [p.detach().clone() for p in net.parameters()]
        loss_before = F.cross_entropy(net(x), y).item()
        _, problem = _call(fn, net, x, y, 20)
    if problem:
        return _verdict(False, problem)
    hidden = [p for layer in net.hidden for p in layer.parameters()]
    if not all(
        torch.equal(p.detach(), b) for p, b in zip(hidden, before)
    ):
        return _verdict(
            False,
            "the hidden layers changed: give the optimizer net.output.parameters() only "
            "(or set requires_grad=False on the hidden layers' parameters).",
        )
    if not all(p.requires_grad for p in hidden):
        return _verdict(
            False,
            "the hidden layers are left with requires_grad=False: turn it back on when "
            "you are done, or fine-tuning this net later will silently train the output layer "
            "only.",
        )
    if all(
        torch.equal(p.detach(), b)
        for p, b in zip(net.output.parameters(), before[-2:])
    ):
        return _verdict(
            False,
            "the output layer did not change: compute the loss, call backward() and "
            "optimizer.step().",
        )
    with torch.no_grad():
        loss_after = F.cross_entropy(net(x), y).item()
    if not loss_after < 0.8 * loss_before:
        return _verdict(
            False,
            f"the training loss went from {loss_before:.3f} to {loss_after:.3f} in 20 "
            "epochs: minimise the cross-entropy of net(x) and y, with a larger learning rate "
            "(e.g. 0.5 with SGD).",
        )
    return _verdict(
        True,
        f"only the output layer trained (cross-entropy {loss_before:.3f} → "
        f"{loss_after:.3f}); the hidden layers are exactly as they were.",
    )


def _as_numbers(answer) -> torch.Tensor | None:
    """A list or tuple of numbers (or of 0-dimensional tensors), or a 1-D tensor -> a float64 vector."""
    if isinstance(answer, torch.Tensor):
        return answer.detach().double() if answer.dim() == 1 else None
    if isinstance(answer, (list, tuple)):
        try:
            return torch.tensor(
                [float(v) for v in answer], dtype=torch.float64
            )
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


@exercise("ex-stacked-pretraining-gradient-norms")
def check_layer_gradient_norms(fn: Callable) -> bool:
    """fn(net, x, y) -> L + 1 numbers: ‖∂𝓛/∂W_l‖_F for each hidden layer's weight, then the output layer's.

    𝓛 is the mean cross-entropy ``F.cross_entropy(net(x), y)`` of a ``DeepNet`` with L hidden layers. The
    reference is :func:`aecourse.models.pretraining.layer_gradient_norms`. The function is called twice on
    the same net: the second call must give the same numbers (gradients must not add up), and neither
    may change the weights.
    """
    # Not at the top, as in check_greedy_pretraining.
    from aecourse.models.pretraining import DeepNet, layer_gradient_norms

    with _seeded(10):
        net = DeepNet([12, 9, 8, 7], n_classes=3).double()
        # "images" with 12 pixels: the first layer needs them flattened
        x = torch.rand(30, 1, 3, 4, dtype=torch.float64)
        y = torch.randint(0, 3, (30,))
    expected = torch.tensor(
        layer_gradient_norms(net, x, y), dtype=torch.float64
    )
    weights = [layer.weight for layer in net.hidden] + [net.output.weight]
    before = [p.detach().clone() for p in net.parameters()]
    answers = []
    for _ in range(2):
        answer, problem = _call(fn, net, x, y)
        if problem:
            return _verdict(False, problem)
        if not all(
            torch.equal(p.detach(), b)
            for p, b in zip(net.parameters(), before)
        ):
            return _verdict(
                False,
                "the net's weights changed: measure the gradients, do not take an "
                "optimizer step.",
            )
        answers.append(answer)
    got = _as_numbers(answers[0])
    if got is None:
        return _verdict(
            False,
            f"return a list of {len(expected)} numbers (or a 1-D tensor), got "
            f"{'a tensor of shape ' if isinstance(answers[0], torch.Tensor) else ''}"
            f"{_shape_or_type(answers[0])}.",
        )
    n = net.depth
    if len(got) != len(expected):
        reasons = {
            n: "you left out the output layer: its norm comes last",
            2
            * (
                n + 1
            ): "one number per layer, for its weight matrix: leave "
            "the biases out",
        }
        reason = reasons.get(len(got), "one number per layer")
        return _verdict(
            False,
            f"{reason}; a net with {_count(n, 'hidden layer')} has "
            f"{len(expected)} weight matrices, you returned {_count(len(got), 'number')}.",
        )
    if torch.allclose(got, expected, rtol=1e-6, atol=0):
        second = _as_numbers(answers[1])
        if second is None or not torch.allclose(
            second, expected, rtol=1e-6, atol=0
        ):
            return _verdict(
                False,
                "a second call on the same net gave other numbers: .grad adds up over "
                "backward() calls. Zero the gradients first (net.zero_grad()), or use "
                "torch.autograd.grad.",
            )
        return _verdict(
            True,
            "the gradient norms match layer_gradient_norms, hidden layers first, the output "
            "layer last.",
        )
    slips = [
        (
            torch.tensor(
                [w.norm().item() for w in weights], dtype=torch.float64
            ),
            "those are the norms of the weights themselves: take the norms of their "
            "gradients ∂𝓛/∂W_l (layer.weight.grad after loss.backward()).",
        ),
        (
            expected.flip(0),
            "hidden layers first (net.hidden[0], the one next to the input), the output "
            "layer last.",
        ),
        (
            expected * len(x),
            "you summed the cross-entropy over the batch: the loss is its mean "
            "(F.cross_entropy's default).",
        ),
        (
            expected**2,
            "you returned the squared norms: the Frobenius norm is the square root of the "
            "sum of the squared entries (tensor.norm()).",
        ),
    ]
    if slip := _known_slip(
        slips,
        lambda wrong: torch.allclose(got, wrong, rtol=1e-6, atol=0),
    ):
        return _verdict(False, slip)
    return _close(
        got,
        expected,
        "the gradient norms",
        rtol=1e-6,
        atol=0,
        plural=True,
    )
