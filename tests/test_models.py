"""aecourse.models.autoencoder: mirrored sizes, activations where they belong, shapes, code noise, clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aecourse.models.autoencoder import (
    ACTIVATIONS,
    Autoencoder,
    Decoder,
    Encoder,
    count_parameters,
)


def linear_shapes(module: nn.Module) -> list[tuple[int, int]]:
    return [
        (m.in_features, m.out_features)
        for m in module.modules()
        if isinstance(m, nn.Linear)
    ]


def layer_types(seq: nn.Sequential) -> list[type]:
    return [type(m) for m in seq]


def test_autoencoder_mirrors_the_sizes():
    model = Autoencoder([784, 256, 32])
    assert linear_shapes(model.encoder) == [(784, 256), (256, 32)]
    assert linear_shapes(model.decoder) == [(32, 256), (256, 784)]
    assert model.encoder.sizes == [
        784,
        256,
        32,
    ] and model.decoder.sizes == [32, 256, 784]
    assert model.code_size == 32


def test_activations_sit_between_layers_and_at_the_ends():
    # relu hidden, linear code, sigmoid output (the defaults)
    model = Autoencoder([20, 10, 6, 3])
    assert layer_types(model.encoder.layers) == [
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    assert layer_types(model.decoder.layers) == [
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.Sigmoid,
    ]
    model = Autoencoder(
        [8, 3],
        activation="tanh",
        code_activation="sigmoid",
        output="linear",
    )
    assert layer_types(model.encoder.layers) == [nn.Linear, nn.Sigmoid]
    assert layer_types(model.decoder.layers) == [nn.Linear]
    model = Autoencoder([8, 4, 2], activation="tanh")
    assert layer_types(model.encoder.layers) == [
        nn.Linear,
        nn.Tanh,
        nn.Linear,
    ]


def test_forward_equals_the_layers_written_out():
    model = Autoencoder([12, 5, 2])
    (l1, l2), (l3, l4) = (
        [m for m in half.layers if isinstance(m, nn.Linear)]
        for half in (model.encoder, model.decoder)
    )
    x = torch.randn(4, 12)
    z = l2(torch.relu(l1(x)))
    expected = torch.sigmoid(l4(torch.relu(l3(z))))
    torch.testing.assert_close(model.encode(x), z)
    torch.testing.assert_close(model(x), expected)
    torch.testing.assert_close(model.decode(z), expected)


def test_linear_autoencoder_has_no_nonlinearity():
    model = Autoencoder([6, 4, 2], activation="linear", output="linear")
    assert all(
        isinstance(m, nn.Linear)
        for m in [*model.encoder.layers, *model.decoder.layers]
    )
    # so it is one affine map x -> A x + b, which we can write down and check
    weights = [m for m in model.modules() if isinstance(m, nn.Linear)]
    a, b = torch.eye(6), torch.zeros(6)
    for layer in weights:
        a, b = layer.weight @ a, layer.weight @ b + layer.bias
    x = torch.randn(5, 6)
    torch.testing.assert_close(model(x), x @ a.T + b)
    # through a 2-unit code: rank at most 2
    assert torch.linalg.matrix_rank(a) == 2


def test_images_keep_their_shape():
    model = Autoencoder([784, 64, 8])
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 1, 28, 28)
    assert model(x.flatten(1)).shape == (3, 784)
    assert model.encode(x).shape == (3, 8)
    torch.testing.assert_close(model(x).flatten(1), model(x.flatten(1)))
    assert model.decode(torch.zeros(2, 8)).shape == (2, 784)


def test_sigmoid_output_lies_in_0_1():
    model = Autoencoder([10, 5, 2])
    out = model(100 * torch.randn(50, 10))
    assert out.min() >= 0 and out.max() <= 1
    linear_out = Autoencoder([10, 5, 2], output="linear")
    with torch.no_grad():
        for p in linear_out.parameters():
            p.fill_(1.0)
    # without the sigmoid nothing bounds it
    assert linear_out(torch.ones(1, 10)).min() > 1


def test_code_noise_only_in_train_mode():
    model = Autoencoder([10, 6, 3], code_noise=0.5)
    x = torch.rand(8, 10)
    clean = model.decode(model.encode(x))
    model.eval()
    torch.testing.assert_close(model(x), clean)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    noisy1, noisy2 = model(x), model(x)
    assert not torch.allclose(noisy1, clean) and not torch.allclose(
        noisy1, noisy2
    )
    # the noise is added to the code, with the stated standard deviation
    torch.manual_seed(1)
    noisy = model(x)
    torch.manual_seed(1)
    noise = 0.5 * torch.randn(8, 3)
    torch.testing.assert_close(
        noisy, model.decode(model.encode(x) + noise)
    )


def test_no_code_noise_by_default_even_in_train_mode():
    model = Autoencoder([10, 3])
    model.train()
    x = torch.rand(4, 10)
    torch.testing.assert_close(model(x), model.decode(model.encode(x)))


@pytest.mark.parametrize(
    "sizes", [[784], [], [784, 0], [784, -32], [0, 3]]
)
def test_bad_sizes_are_a_clear_error(sizes):
    for build in (Autoencoder, Encoder, Decoder):
        with pytest.raises(
            ValueError,
            match="Layer sizes must be at least two positive integers",
        ):
            build(sizes)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(activation="gelu"),
        dict(code_activation="softmax"),
        dict(output="Sigmoid"),
    ],
)
def test_unknown_activation_is_a_clear_error(kwargs):
    with pytest.raises(
        ValueError,
        match=r"Unknown activation '\w+': expected one of \['linear', 'relu', 'sigmoid', 'tanh'\]",
    ):
        Autoencoder([8, 3], **kwargs)


def test_unknown_activation_fails_even_where_it_would_not_be_used():
    with pytest.raises(ValueError, match="Unknown activation 'gelu'"):
        # no hidden layer, still refused
        Encoder([8, 3], activation="gelu")
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        Decoder([3, 8], output="swish")


def test_negative_code_noise_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match="code_noise is a standard deviation and must be >= 0, got -0.1",
    ):
        Autoencoder([8, 3], code_noise=-0.1)


def test_wrong_input_shape_is_a_clear_error():
    model = Autoencoder([784, 32])
    with pytest.raises(
        ValueError,
        match=r"Encoder expects a batch of shape \(N, 784\).*got \(2, 100\)",
    ):
        model(torch.zeros(2, 100))
    with pytest.raises(ValueError, match=r"got \(784,\)"):
        model(torch.zeros(784))  # one image without its batch dimension
    with pytest.raises(
        ValueError,
        match=r"Decoder expects codes of shape \(N, 32\); got \(2, 16\)",
    ):
        model.decode(torch.zeros(2, 16))
    with pytest.raises(
        ValueError,
        match=r"Decoder expects codes of shape \(N, 32\); got \(32,\)",
    ):
        model.decode(torch.zeros(32))


def test_count_parameters_by_hand():
    model = Autoencoder([784, 256, 32])
    expected = (
        (784 * 256 + 256)
        + (256 * 32 + 32)
        + (32 * 256 + 256)
        + (256 * 784 + 784)
    )
    assert count_parameters(model) == expected
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    assert count_parameters(model) == (32 * 256 + 256) + (256 * 784 + 784)


def test_activation_table():
    assert set(ACTIVATIONS) == {"relu", "sigmoid", "tanh", "linear"}
    x = torch.linspace(-2, 2, 5)
    torch.testing.assert_close(ACTIVATIONS["relu"]()(x), x.clamp(min=0))
    torch.testing.assert_close(ACTIVATIONS["linear"]()(x), x)


def test_normalize_code_puts_a_batch_norm_between_the_code_layer_and_its_activation():
    model = Autoencoder(
        [10, 6, 3], code_activation="sigmoid", normalize_code=True
    )
    layers = list(model.encoder.layers)
    assert [type(m) for m in layers[-3:]] == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.Sigmoid,
    ]
    linear = Autoencoder([10, 6, 3], normalize_code=True).encoder.layers
    assert (
        isinstance(linear[-1], nn.BatchNorm1d)
        and linear[-1].num_features == 3
    )
    assert not any(
        isinstance(m, nn.BatchNorm1d)
        for m in Autoencoder([10, 6, 3]).modules()
    )


def test_a_normalized_code_cannot_be_the_same_for_every_input():
    # Even with the code layer pushed far into saturation, each unit's pre-activations are re-centred over
    # the batch, so in training the sigmoid code still varies from input to input.
    torch.manual_seed(0)
    model = Autoencoder(
        [10, 6, 3], code_activation="sigmoid", normalize_code=True
    )
    code_layer = model.encoder.layers[-3]
    with torch.no_grad():
        # without the normalisation every code would be 1.0
        code_layer.bias.fill_(50.0)
    z = model.encode(torch.randn(64, 10))
    assert z.shape == (64, 3)
    assert (z.std(0) > 0.1).all()
    assert (
        (z > 0.5).float().mean(0) - 0.5
    ).abs().max() < 0.3  # both sides of 0.5 in use
