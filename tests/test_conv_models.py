"""aecourse.models.conv_autoencoder: shapes, the layers written out, switches really used, training, gradients, errors."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse.models.autoencoder import count_parameters
from aecourse.models.conv_autoencoder import (
    COMPARED,
    DECODERS,
    ConvAutoencoder,
    ConvEncoder,
    ResizeDecoder,
    TransposedDecoder,
    compared_model,
    make_decoder,
    parameter_counts,
)
from aecourse.ops.convolution import (
    max_pool2d_with_switches,
    max_unpool2d,
)
from aecourse.training import evaluate, fit, predict


def blobs(n: int, seed: int = 0) -> torch.Tensor:
    """n synthetic 28×28 images in [0, 1]: one Gaussian blob each, at a random centre and width."""
    g = torch.Generator().manual_seed(seed)
    centre = 6 + 16 * torch.rand(n, 2, generator=g)
    width = 2 + 3 * torch.rand(n, 1, 1, generator=g)
    grid = torch.arange(28.0)
    rows, cols = grid.view(1, 28, 1), grid.view(1, 1, 28)
    d2 = (rows - centre[:, 0].view(n, 1, 1)) ** 2 + (
        cols - centre[:, 1].view(n, 1, 1)
    ) ** 2
    return torch.exp(-d2 / (2 * width**2)).unsqueeze(1)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("n", [1, 3, 8])
def test_code_and_output_shapes(decoder, n):
    model = ConvAutoencoder(decoder, channels=(4, 6), code_channels=3)
    x = torch.rand(n, 1, 28, 28)
    assert model.encode(x).shape == (n, 3, 7, 7) == (n, *model.code_shape)
    assert model(x).shape == x.shape
    assert predict(model, x, method="encode").shape == (n, 3, 7, 7)
    assert predict(model, x).shape == x.shape


def test_default_sizes_and_parameter_counts():
    # Counted by hand: encoder 1·16·9+16 + 16·32·9+32 + 32·4+4 = 4932; the decoders' 1×1 layer 4·32+32 = 160;
    # transposed 32·16·16+16 + 16·1·16+1 = 8465; unpool and resize 32·16·9+16 + 16·1·9+1 = 4769.
    assert count_parameters(ConvEncoder()) == 4932
    assert count_parameters(make_decoder("transposed")) == 160 + 8465
    assert (
        count_parameters(make_decoder("unpool"))
        == count_parameters(make_decoder("resize"))
        == 160 + 4769
    )
    counts = parameter_counts()
    assert counts == {"transposed": 13557, "unpool": 9861, "resize": 9861}
    assert max(counts.values()) / min(counts.values()) < 1.5  # comparable
    assert ConvAutoencoder().encode(torch.rand(2, 1, 28, 28)).shape == (
        2,
        4,
        7,
        7,
    )


@pytest.mark.parametrize("decoder", DECODERS)
def test_output_lies_in_0_1(decoder):
    model = ConvAutoencoder(decoder, channels=(4, 6))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(50)  # push the pre-sigmoid values far out
        out = model(torch.rand(4, 1, 28, 28))
    assert out.min() >= 0 and out.max() <= 1
    # the sigmoid really saturates at both ends, so it is there
    assert out.min() < 0.01 and out.max() > 0.99


def test_encoder_equals_its_layers_written_out():
    enc = ConvEncoder((4, 6), code_channels=3, return_switches=True)
    x = torch.rand(5, 1, 28, 28)
    h, s1 = max_pool2d_with_switches(
        F.relu(F.conv2d(x, enc.conv1.weight, enc.conv1.bias, padding=1)),
        2,
    )
    h, s2 = max_pool2d_with_switches(
        F.relu(F.conv2d(h, enc.conv2.weight, enc.conv2.bias, padding=1)),
        2,
    )
    z = F.conv2d(h, enc.code.weight, enc.code.bias)
    got_z, (got_s1, got_s2) = enc(x)
    torch.testing.assert_close(got_z, z)
    assert got_s1.shape == (5, 4, 14, 14) and got_s2.shape == (5, 6, 7, 7)
    assert torch.equal(got_s1, s1) and torch.equal(got_s2, s2)
    enc.return_switches = False
    torch.testing.assert_close(enc(x), z)


def test_transposed_decoder_doubles_with_kernel_4_stride_2_padding_1():
    dec = TransposedDecoder((4, 6), code_channels=3)
    ups = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.kernel_size, m.stride, m.padding) for m in ups] == [
        ((4, 4), (2, 2), (1, 1))
    ] * 2
    z = torch.randn(2, 3, 7, 7)
    h = F.relu(F.conv2d(z, dec.expand.weight, dec.expand.bias))
    h = F.relu(
        F.conv_transpose2d(
            h, dec.up1.weight, dec.up1.bias, stride=2, padding=1
        )
    )
    expected = torch.sigmoid(
        F.conv_transpose2d(
            h, dec.up2.weight, dec.up2.bias, stride=2, padding=1
        )
    )
    torch.testing.assert_close(dec(z), expected)


def test_resize_decoder_is_nearest_upsampling_then_3x3_convolution():
    dec = ResizeDecoder((4, 6), code_channels=3)
    assert not any(
        isinstance(m, nn.ConvTranspose2d) for m in dec.modules()
    )
    z = torch.randn(2, 3, 7, 7)
    h = F.relu(F.conv2d(z, dec.expand.weight, dec.expand.bias))
    # each pixel into a 2×2 patch
    h = h.repeat_interleave(2, -2).repeat_interleave(2, -1)
    h = F.relu(F.conv2d(h, dec.conv1.weight, dec.conv1.bias, padding=1))
    h = h.repeat_interleave(2, -2).repeat_interleave(2, -1)
    expected = torch.sigmoid(
        F.conv2d(h, dec.conv2.weight, dec.conv2.bias, padding=1)
    )
    torch.testing.assert_close(dec(z), expected)


def test_unpool_decoder_puts_values_where_the_switches_say():
    model = ConvAutoencoder("unpool", channels=(4, 6), code_channels=3)
    dec = model.decoder
    x = torch.rand(3, 1, 28, 28)
    z, (s1, s2) = model.encode_with_switches(x)
    # the decoder written out with the hand-made unpooling of aecourse.ops.convolution
    h = F.relu(F.conv2d(z, dec.expand.weight, dec.expand.bias))
    h = F.relu(
        F.conv2d(
            max_unpool2d(h, s2, (14, 14)),
            dec.conv1.weight,
            dec.conv1.bias,
            padding=1,
        )
    )
    expected = torch.sigmoid(
        F.conv2d(
            max_unpool2d(h, s1, (28, 28)),
            dec.conv2.weight,
            dec.conv2.bias,
            padding=1,
        )
    )
    torch.testing.assert_close(model(x), expected)
    torch.testing.assert_close(model.decode(z, [s1, s2]), expected)


def test_unpool_decoder_output_depends_on_the_switches():
    model = ConvAutoencoder("unpool", channels=(4, 6), code_channels=3)
    x = torch.rand(2, 1, 28, 28)
    z, (s1, s2) = model.encode_with_switches(x)
    out = model.decode(z, [s1, s2])
    # the same code with the switches of other images: a different reconstruction
    _, (t1, t2) = model.encode_with_switches(torch.rand(2, 1, 28, 28))
    assert (model.decode(z, [t1, t2]) - out).abs().max() > 1e-3
    assert (model.decode(z, [s1, t2]) - out).abs().max() > 1e-3
    assert (model.decode(z, [t1, s2]) - out).abs().max() > 1e-3
    # every switch moved to the top-left corner of its 2×2 window: a different reconstruction again
    corner1 = (s1 // 28 // 2 * 2) * 28 + (s1 % 28 // 2 * 2)
    assert (model.decode(z, [corner1, s2]) - out).abs().max() > 1e-3
    # the other two decoders ignore switches altogether
    for name in ("transposed", "resize"):
        dec = make_decoder(name, (4, 6), 3)
        torch.testing.assert_close(dec(z, [t1, t2]), dec(z))


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_short_fit_lowers_the_loss(decoder):
    x = blobs(64)
    model = ConvAutoencoder(decoder, channels=(8, 16))
    before = evaluate(model, x, loss="bce")
    history = fit(
        model,
        x,
        loss="bce",
        epochs=6,
        batch_size=16,
        lr=1e-2,
        progress=False,
    )
    after = evaluate(model, x, loss="bce")
    assert len(history.train) == 6
    assert history.train[-1] < history.train[0]
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("decoder", DECODERS)
def test_every_parameter_receives_a_gradient(decoder):
    model = ConvAutoencoder(decoder, channels=(4, 6), code_channels=3)
    x = blobs(4)
    F.binary_cross_entropy(model(x), x).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_clear_errors():
    expected = re.escape(
        "Unknown decoder 'deconv': expected one of ['transposed', 'unpool', 'resize']"
    )
    with pytest.raises(ValueError, match=expected):
        ConvAutoencoder("deconv")
    with pytest.raises(ValueError, match="Unknown decoder 'bilinear'"):
        make_decoder("bilinear")
    model = ConvAutoencoder("resize", channels=(4, 6))
    for shape in [(2, 784), (2, 3, 28, 28), (2, 1, 32, 32), (1, 28, 28)]:
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"expect images of shape (N, 1, 28, 28); got {shape}"
            ),
        ):
            model(torch.rand(*shape))
    with pytest.raises(
        ValueError, match=r"shape \(N, 1, 28, 28\); got \(2, 784\)"
    ):
        model.encode(torch.rand(2, 784))
    with pytest.raises(
        ValueError,
        match=r"channels must be two positive ints.*got \(16, 32, 64\)",
    ):
        ConvAutoencoder(channels=(16, 32, 64))
    with pytest.raises(
        ValueError, match="channels must be two positive ints"
    ):
        ConvEncoder(channels=(16, 0))
    with pytest.raises(
        ValueError, match="code_channels must be an integer >= 1, got 0"
    ):
        ConvAutoencoder(code_channels=0)
    expected = re.escape(
        "'transposed' decoder expects codes of shape (N, 4, 7, 7); got (2, 4, 14, 14)"
    )
    with pytest.raises(ValueError, match=expected):
        make_decoder("transposed")(torch.randn(2, 4, 14, 14))
    unpool = ConvAutoencoder("unpool", channels=(4, 6))
    z, switches = unpool.encode_with_switches(torch.rand(2, 1, 28, 28))
    with pytest.raises(
        ValueError, match=r"needs the encoder's switches.*got none"
    ):
        unpool.decode(z)
    with pytest.raises(
        ValueError, match=r"do not fit codes of batch size 1"
    ):
        unpool.decode(z[:1], switches)


def test_strided_encoder_halves_with_its_convolutions():
    torch.manual_seed(0)
    encoder = ConvEncoder(
        channels=(4, 6), code_channels=3, downsample="stride"
    )
    x = torch.rand(2, 1, 28, 28)
    h = torch.relu(
        F.conv2d(
            x,
            encoder.conv1.weight,
            encoder.conv1.bias,
            stride=2,
            padding=1,
        )
    )
    assert h.shape == (2, 4, 14, 14)
    h = torch.relu(
        F.conv2d(
            h,
            encoder.conv2.weight,
            encoder.conv2.bias,
            stride=2,
            padding=1,
        )
    )
    expected = F.conv2d(h, encoder.code.weight, encoder.code.bias)
    torch.testing.assert_close(encoder(x), expected)
    # same parameters as the pooling encoder: pooling has none
    assert count_parameters(encoder) == count_parameters(
        ConvEncoder((4, 6), 3)
    )


def test_compared_models_share_the_code_size():
    x = torch.rand(3, 1, 28, 28)
    counts = {}
    for name in COMPARED:
        model = compared_model(name)
        assert model(x).shape == x.shape
        code = model.encode(x)
        assert code[0].numel() == 4 * 7 * 7
        counts[name] = count_parameters(model)
    assert counts["strided"] == counts["transposed"] == 13_557
    # 784·256 + 256 + 256·196 + 196, and the mirror image
    assert counts["dense"] == (784 * 256 + 256 + 256 * 196 + 196) + (
        196 * 256 + 256 + 256 * 784 + 784
    )
    assert compared_model("strided").encoder.downsample == "stride"


def test_strided_and_compared_errors():
    with pytest.raises(ValueError, match="no switches to return"):
        ConvAutoencoder("unpool", downsample="stride")
    with pytest.raises(
        ValueError, match="downsample must be 'pool' or 'stride'"
    ):
        ConvEncoder(downsample="avg")
    with pytest.raises(ValueError, match="Unknown model 'vae'"):
        compared_model("vae")
