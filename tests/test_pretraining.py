"""aecourse.models.pretraining (its experiment script is tested in test_experiment_pretraining.py): the greedy algorithm does what the chapter says it does.

Each greedy module is watched (a spy replaces pretrain_layer): layer l must be trained on h^(l-1) and its
encoder must end up, weight for weight, in net.hidden[l-1], while the output layer is left alone.
Fine-tuning is checked to learn, and to leave frozen layers bit for bit as they were.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aecourse.models.pretraining as P
from aecourse.models.autoencoder import Autoencoder
from aecourse.models.pretraining import (
    DeepNet,
    fine_tune,
    make_optimizer,
    pretrain,
    pretrain_layer,
    reconstruction_for,
    test_error,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def pixels():
    """48 tiny 'images' (N, 1, 4, 4) in [0, 1]."""
    return torch.rand(48, 1, 4, 4, generator=gen(0))


@pytest.fixture
def blobs():
    """A 4-class problem: Gaussian clusters in 12 dimensions, squashed into (0, 1) like pixels."""
    g = gen(1)
    centres = 2.0 * torch.randn(4, 12, generator=g)
    y = torch.arange(200) % 4
    x = torch.sigmoid(
        centres[y] + 0.7 * torch.randn(200, 12, generator=g)
    )
    return x, y


@pytest.fixture
def spy(monkeypatch):
    """Replace pretrain_layer by a wrapper that records each call's input and the autoencoder it returns."""
    calls = []
    real = P.pretrain_layer

    def spying(x, *args, **kwargs):
        ae, history = real(x, *args, **kwargs)
        calls.append(
            {"x": x.clone(), "ae": ae, "args": args, "kwargs": kwargs}
        )
        return ae, history

    monkeypatch.setattr(P, "pretrain_layer", spying)
    return calls


# --- DeepNet -------------------------------------------------------------------------------------


def test_deepnet_layers_and_logits():
    net = DeepNet([16, 8, 6, 5], n_classes=3)
    assert isinstance(net.hidden, nn.ModuleList) and net.depth == 3
    assert [(m.in_features, m.out_features) for m in net.hidden] == [
        (16, 8),
        (8, 6),
        (6, 5),
    ]
    assert (net.output.in_features, net.output.out_features) == (5, 3)
    assert net.activation == "sigmoid"
    assert net(torch.rand(7, 1, 4, 4)).shape == (7, 3)


def test_features_by_hand(pixels):
    net = DeepNet([16, 8, 6], activation="sigmoid")
    x = pixels[:5]
    flat = x.reshape(5, 16)
    assert torch.equal(net.features(x, 0), flat)
    h1 = torch.sigmoid(flat @ net.hidden[0].weight.T + net.hidden[0].bias)
    h2 = torch.sigmoid(h1 @ net.hidden[1].weight.T + net.hidden[1].bias)
    assert torch.allclose(net.features(x, 1), h1, atol=1e-6)
    assert torch.allclose(net.features(x, 2), h2, atol=1e-6)
    assert torch.allclose(
        net(x), h2 @ net.output.weight.T + net.output.bias, atol=1e-6
    )
    relu = DeepNet([16, 8], activation="relu")
    assert torch.allclose(
        relu.features(x, 1),
        torch.relu(flat @ relu.hidden[0].weight.T + relu.hidden[0].bias),
    )


def test_deepnet_rejects_bad_arguments(pixels):
    with pytest.raises(ValueError, match="activation"):
        DeepNet([16, 8], activation="softmax")
    with pytest.raises(
        ValueError, match="n_classes must be an integer >= 2, got 1"
    ):
        DeepNet([16, 8], n_classes=1)
    net = DeepNet([16, 8, 4])
    for depth in (-1, 3):
        with pytest.raises(
            ValueError, match="depth must be an integer from 0 to 2"
        ):
            net.features(pixels, depth)
    with pytest.raises(ValueError, match="16 values per example"):
        net(torch.rand(2, 15))


# --- the greedy module ---------------------------------------------------------------------------


def test_reconstruction_fits_the_range_of_the_inputs():
    # pixels, sigmoid units
    assert reconstruction_for(torch.rand(10, 5)) == ("sigmoid", "bce")
    # ReLU units exceed 1
    assert reconstruction_for(torch.tensor([[0.0, 2.5]])) == (
        "linear",
        "mse",
    )
    # tanh units go below 0
    assert reconstruction_for(torch.tensor([[-0.5, 0.5]])) == (
        "linear",
        "mse",
    )


def test_pretrain_layer_builds_and_trains_the_right_autoencoder(pixels):
    x = pixels.flatten(1)
    ae, history = pretrain_layer(
        x, 6, "sigmoid", epochs=15, lr=0.05, batch_size=8, progress=False
    )
    assert isinstance(ae, Autoencoder)
    encoder = ae.encoder.layers[0]
    assert isinstance(encoder, nn.Linear) and encoder.weight.shape == (
        6,
        16,
    )
    assert isinstance(ae.encoder.layers[1], nn.Sigmoid) and isinstance(
        ae.decoder.layers[-1], nn.Sigmoid
    )
    assert (
        len(history.train) == 15 and history.train[-1] < history.train[0]
    )
    # Unbounded inputs: the decoder ends with a linear layer (no sigmoid) and the loss is the squared error.
    ae, history = pretrain_layer(
        3 * x,
        6,
        "relu",
        epochs=2,
        lr=1e-3,
        batch_size=8,
        optimizer="adam",
        progress=False,
    )
    assert isinstance(ae.decoder.layers[-1], nn.Linear) and isinstance(
        ae.encoder.layers[1], nn.ReLU
    )
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        pretrain_layer(pixels, 6, progress=False)
    with pytest.raises(ValueError, match="activation"):
        pretrain_layer(x, 6, "linear", progress=False)


def test_a_noise_level_means_masking_noise():
    # no zeros, so every zero below was put there by the corruption
    x = torch.rand(200, 50) + 0.5
    corrupt = P._corruption(0.3)
    x_tilde = corrupt(x)
    dropped = x_tilde == 0
    assert 0.25 < dropped.double().mean().item() < 0.35
    assert torch.equal(x_tilde[~dropped], x[~dropped])
    double = lambda xb: 2 * xb  # noqa: E731
    assert P._corruption(double) is double and P._corruption(None) is None
    with pytest.raises(ValueError, match="masking level"):
        P._corruption(1.5)


def test_make_optimizer():
    params = [nn.Parameter(torch.zeros(2))]
    plain, momentum, adam = (
        make_optimizer(n, params, 0.1)
        for n in ("sgd", "momentum", "adam")
    )
    assert (
        isinstance(plain, torch.optim.SGD)
        and plain.defaults["momentum"] == 0
    )
    assert (
        isinstance(momentum, torch.optim.SGD)
        and momentum.defaults["momentum"] == 0.9
    )
    assert (
        isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 0.1
    )
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("rmsprop", params, 0.1)
    with pytest.raises(ValueError, match="lr"):
        make_optimizer("sgd", params, 0.0)


# --- the algorithm -------------------------------------------------------------------------------


def test_pretrain_copies_each_greedy_module_into_its_layer(pixels, spy):
    net = DeepNet([16, 10, 8, 6])
    output_before = [p.detach().clone() for p in net.output.parameters()]
    histories = pretrain(
        net, pixels, epochs=2, lr=0.05, batch_size=8, progress=False
    )
    assert len(spy) == len(histories) == 3
    for layer, call in zip(net.hidden, spy):
        encoder = call["ae"].encoder.layers[0]
        assert torch.equal(layer.weight, encoder.weight) and torch.equal(
            layer.bias, encoder.bias
        )
        # module l has as many hidden units as layer l
        assert call["args"][0] == layer.out_features
    # The output layer is not touched by pretraining.
    assert all(
        torch.equal(a, b)
        for a, b in zip(output_before, net.output.parameters())
    )


def test_layer_l_is_trained_on_the_codes_of_the_layers_below(pixels, spy):
    net = DeepNet([16, 10, 8, 6], activation="sigmoid")
    pretrain(net, pixels, epochs=2, lr=0.05, batch_size=8, progress=False)
    # Layer 1 sees the raw (flattened) pixels ...
    assert torch.equal(spy[0]["x"], pixels.flatten(1))
    # ... layer 2 the sigmoid codes of the first autoencoder's encoder, computed by hand ...
    first = spy[0]["ae"].encoder.layers[0]
    codes = torch.sigmoid(pixels.flatten(1) @ first.weight.T + first.bias)
    assert torch.allclose(spy[1]["x"], codes, atol=1e-6)
    assert torch.allclose(
        spy[1]["x"], spy[0]["ae"].encode(pixels).detach(), atol=1e-6
    )
    # ... and every layer l the representation h^(l-1) of the pretrained net, without any graph attached.
    for l, call in enumerate(spy, start=1):
        assert torch.allclose(
            call["x"], net.features(pixels, l - 1).detach(), atol=1e-6
        )
        assert not call["x"].requires_grad


def test_pretrain_passes_the_settings_on(pixels, spy):
    net = DeepNet([16, 10, 8], activation="relu")
    pretrain(
        net,
        pixels,
        epochs=1,
        lr=1e-3,
        batch_size=8,
        noise=0.25,
        optimizer="adam",
        progress=False,
    )
    for call in spy:
        assert call["args"][1] == "relu"
        assert (
            call["kwargs"]["noise"] == 0.25
            and call["kwargs"]["optimizer"] == "adam"
        )
        assert (
            call["kwargs"]["epochs"] == 1
            and call["kwargs"]["batch_size"] == 8
        )


def test_pretraining_lowers_each_modules_reconstruction_loss(pixels):
    torch.manual_seed(0)
    histories = pretrain(
        DeepNet([16, 10, 8]),
        pixels,
        epochs=20,
        lr=0.05,
        batch_size=8,
        progress=False,
    )
    assert all(h.train[-1] < h.train[0] for h in histories)


# --- fine-tuning and the error rate --------------------------------------------------------------


def test_fine_tuning_lowers_the_training_loss(blobs):
    x, y = blobs
    net = DeepNet([12, 16, 16], n_classes=4)
    error_before = test_error(net, x, y)
    history = fine_tune(
        net,
        x,
        y,
        epochs=30,
        lr=0.01,
        batch_size=20,
        optimizer="adam",
        test=(x, y),
        progress=False,
    )
    assert len(history.train) == len(history.test) == 30
    assert history.train[-1] < 0.3 * history.train[0]
    assert test_error(net, x, y) < 0.05 < error_before


def test_freezing_the_hidden_layers_trains_only_the_output_layer(blobs):
    x, y = blobs
    net = DeepNet([12, 16, 16], n_classes=4)
    hidden_before = [p.detach().clone() for p in net.hidden.parameters()]
    output_before = [p.detach().clone() for p in net.output.parameters()]
    history = fine_tune(
        net,
        x,
        y,
        epochs=10,
        lr=0.5,
        batch_size=20,
        freeze_hidden=True,
        progress=False,
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(hidden_before, net.hidden.parameters())
    )
    assert not any(
        torch.equal(a, b)
        for a, b in zip(output_before, net.output.parameters())
    )
    assert history.train[-1] < history.train[0]
    # restored, untouched
    assert all(
        p.requires_grad and p.grad is None
        for p in net.hidden.parameters()
    )
    # Without freezing, the hidden layers move too.
    fine_tune(net, x, y, epochs=1, lr=0.5, batch_size=20, progress=False)
    assert not torch.equal(hidden_before[0], net.hidden[0].weight)


def test_layer_gradient_norms_are_the_norms_of_backprop(blobs):
    x, y = blobs
    torch.manual_seed(0)
    net = DeepNet([12, 9, 7], n_classes=4)
    norms = P.layer_gradient_norms(net, x, y)
    # nothing accumulated
    assert all(p.grad is None for p in net.parameters())
    nn.functional.cross_entropy(net(x), y).backward()
    expected = [
        net.hidden[0].weight.grad.norm(),
        net.hidden[1].weight.grad.norm(),
        net.output.weight.grad.norm(),
    ]
    assert norms == pytest.approx([e.item() for e in expected], rel=1e-6)
    with pytest.raises(ValueError, match="class indices"):
        P.layer_gradient_norms(net, x, y.float())


def test_test_error_by_hand():
    logits = torch.tensor(
        [
            [2.0, 1.0, 0.0],
            [0.0, 1.0, 2.0],
            [1.0, 3.0, 0.0],
            [5.0, 0.0, 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    # predicted 0, 2, 1, 0, 2: two mistakes in five
    y = torch.tensor([0, 0, 1, 2, 2])
    assert test_error(
        nn.Identity(), logits, y, batch_size=2
    ) == pytest.approx(0.4)
    net = DeepNet([16, 8], n_classes=3)
    x, labels = torch.rand(30, 16), torch.arange(30) % 3
    assert test_error(net, x, labels, batch_size=7) == pytest.approx(
        (net(x).argmax(1) != labels).float().mean().item()
    )
    with pytest.raises(ValueError, match="integer class indices"):
        test_error(net, x, labels.float())
    with pytest.raises(ValueError, match="one class index per input"):
        fine_tune(net, x, labels[:-1], progress=False)
