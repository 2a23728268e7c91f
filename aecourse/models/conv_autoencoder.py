"""Convolutional autoencoders for 28×28 images, with three ways of decoding (the convolution
chapter).

The encoder halves the image twice, 28×28 → 14×14 → 7×7, with a 3×3 convolution, a ReLU and a 2×2 max
pooling at each stage, and ends in a 1×1 convolution to ``code_channels`` feature maps: the code Z is a
stack of 7×7 maps, shape (N, l, 7, 7), and ``Z.flatten(1)`` is the vector of its l·49 numbers. It stays
spatial on purpose: the decoders only have to undo the two poolings.

The decoders mirror it (a 1×1 convolution back to the encoder's channels, then two ×2 stages, then a
sigmoid) and differ only in how a stage makes the image larger, the three ways of
:mod:`aecourse.ops.convolution`:

- ``"transposed"``: a strided transposed convolution, kernel 4, stride 2, padding 1 (exact ×2);
- ``"unpool"``: max-unpooling with the *switches* the encoder's poolings recorded (Zeiler & Fergus), then
  a 3×3 convolution;
- ``"resize"``: nearest-neighbour upsampling ×2, then a 3×3 convolution (resize-convolution, Odena et
  al. 2016).

Parameter counts with the defaults ``channels=(16, 32), code_channels=4`` (see :func:`count_parameters`):
encoder 4 932; decoders 8 625 (transposed), 4 929 (unpool), 4 929 (resize); whole autoencoders 13 557,
9 861 and 9 861. The transposed decoder has more because its kernels are 4×4 (16 weights) rather than
3×3 (9). The autoencoder of the structure chapter, ``Autoencoder([784, 256, 32])``, has 419 120.

``ConvEncoder(downsample="stride")`` shrinks the image with stride-2 convolutions instead of pooling (same
parameters, no switches). :func:`compared_model` builds the five autoencoders the chapter trains side by
side (:data:`COMPARED`): the three decoders, ``"strided"`` (that encoder with the transposed decoder,
13 557 parameters) and ``"dense"``, ``Autoencoder([784, 256, 196])`` with the same code size (503 252).
"""

from __future__ import annotations

import torch
from torch import nn

from aecourse._args import integer
from aecourse.models.autoencoder import Autoencoder, count_parameters

DECODERS = ("transposed", "unpool", "resize")
IMAGE_SHAPE = (1, 28, 28)
CODE_SIZE = 7  # 28 → 14 → 7: the code's maps are 7×7


def check_channels(channels) -> tuple[int, int]:
    """The encoder's two stage widths, e.g. (16, 32), as a pair of positive ints."""
    try:
        channels = tuple(channels)
    except TypeError:
        channels = ()
    if len(channels) != 2 or not all(
        isinstance(c, int) and not isinstance(c, bool) and c > 0
        for c in channels
    ):
        raise ValueError(
            f"channels must be two positive ints, one per ×2 stage (28 → 14 → 7), e.g. (16, 32); "
            f"got {channels!r}."
        )
    return channels


def check_images(x: torch.Tensor) -> torch.Tensor:
    """x itself if it is a batch of 28×28 grey images (N, 1, 28, 28); a ValueError saying so otherwise."""
    if (
        not isinstance(x, torch.Tensor)
        or x.dim() != 4
        or tuple(x.shape[1:]) != IMAGE_SHAPE
    ):
        shape = (
            tuple(x.shape)
            if isinstance(x, torch.Tensor)
            else type(x).__name__
        )
        raise ValueError(
            f"Convolutional models expect images of shape (N, 1, 28, 28); got {shape}. "
            f"Reshape flat (N, 784) data with x.view(-1, 1, 28, 28)."
        )
    return x


def _decoder_name(name) -> str:
    if name not in DECODERS:
        raise ValueError(
            f"Unknown decoder {name!r}: expected one of {list(DECODERS)}."
        )
    return name


class ConvEncoder(nn.Module):
    """x ↦ code Z = 𝓔(x): two stages of 3×3 convolution, ReLU, 2×2 max pooling, then a 1×1 convolution.

    channels: (c₁, c₂) feature maps after the first and second stage. code_channels: l, the code's maps
    (no activation on them). return_switches: also return where each pooling took its maxima, as the
    ``"unpool"`` decoder needs. downsample: ``"pool"`` (the default, as above) or ``"stride"``: each
    stage is a 3×3 convolution with stride 2 and padding 1, then a ReLU, with no pooling (same
    parameters, same sizes, no switches; return_switches must then be False).
    Input (N, 1, 28, 28) -> code (N, l, 7, 7); with return_switches, (code, [s₁, s₂]) with the switches
    s₁: (N, c₁, 14, 14) and s₂: (N, c₂, 7, 7), flat indices into each plane before its pooling.
    """

    def __init__(
        self,
        channels=(16, 32),
        code_channels: int = 4,
        return_switches: bool = False,
        downsample: str = "pool",
    ):
        super().__init__()
        if downsample not in ("pool", "stride"):
            raise ValueError(
                f"downsample must be 'pool' or 'stride', got {downsample!r}."
            )
        if downsample == "stride" and return_switches:
            raise ValueError(
                "An encoder that downsamples with strided convolutions has no pooling, "
                "so no switches to return: use downsample='pool' with the 'unpool' decoder."
            )
        self.downsample = downsample
        self.channels = check_channels(channels)
        self.code_channels = integer(
            "code_channels", code_channels, low=1
        )
        self.return_switches = bool(return_switches)
        c1, c2 = self.channels
        stride = 2 if downsample == "stride" else 1
        # 28×28, keeps the size (or 28 -> 14 with stride 2)
        self.conv1 = nn.Conv2d(1, c1, 3, stride=stride, padding=1)
        # 14×14 (or 14 -> 7)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=stride, padding=1)
        # halves, recording the switches
        self.pool = nn.MaxPool2d(2, return_indices=True)
        # 7×7: c₂ maps -> l maps
        self.code = nn.Conv2d(c2, self.code_channels, kernel_size=1)

    def forward(self, x: torch.Tensor):
        if self.downsample == "stride":
            h = torch.relu(self.conv1(check_images(x)))  # (N, c₁, 14, 14)
            return self.code(torch.relu(self.conv2(h)))  # (N, l, 7, 7)
        # (N, c₁, 14, 14)
        h, s1 = self.pool(torch.relu(self.conv1(check_images(x))))
        h, s2 = self.pool(torch.relu(self.conv2(h)))  # (N, c₂, 7, 7)
        z = self.code(h)  # (N, l, 7, 7)
        return (z, [s1, s2]) if self.return_switches else z


class _ConvDecoder(nn.Module):
    """What the three decoders share: Z (N, l, 7, 7) -> 1×1 convolution + ReLU -> (N, c₂, 7, 7) -> two
    ×2 stages written by the subclass -> sigmoid -> x̂ (N, 1, 28, 28)."""

    name = ""

    def __init__(self, channels=(16, 32), code_channels: int = 4):
        super().__init__()
        self.channels = check_channels(channels)
        self.code_channels = integer(
            "code_channels", code_channels, low=1
        )
        # mirrors ConvEncoder.code
        self.expand = nn.Conv2d(
            self.code_channels, self.channels[1], kernel_size=1
        )

    def _check_code(self, z: torch.Tensor) -> torch.Tensor:
        expected = (self.code_channels, CODE_SIZE, CODE_SIZE)
        if (
            not isinstance(z, torch.Tensor)
            or z.dim() != 4
            or tuple(z.shape[1:]) != expected
        ):
            shape = (
                tuple(z.shape)
                if isinstance(z, torch.Tensor)
                else type(z).__name__
            )
            raise ValueError(
                f"The {self.name!r} decoder expects codes of shape (N, {self.code_channels}, 7, 7); "
                f"got {shape}."
            )
        return z

    def forward(self, z: torch.Tensor, switches=None) -> torch.Tensor:
        h = torch.relu(self.expand(self._check_code(z)))  # (N, c₂, 7, 7)
        return torch.sigmoid(self.upsample(h, switches))  # (N, 1, 28, 28)

    def upsample(
        self, h: torch.Tensor, switches
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class TransposedDecoder(_ConvDecoder):
    """Z (N, l, 7, 7) -> x̂ (N, 1, 28, 28) through two strided transposed convolutions.

    Kernel 4, stride 2, padding 1 gives exactly twice the size ((u − 1)·2 − 2 + 4 = 2u) and every output
    pixel is covered by the same number (2×2) of kernel stamps. Kernel 3 with stride 2 (plus
    output_padding=1 to get 2u) covers some pixels twice and others once: the checkerboard artifacts of
    Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts". ``switches`` is ignored.
    """

    name = "transposed"

    def __init__(self, channels=(16, 32), code_channels: int = 4):
        super().__init__(channels, code_channels)
        c1, c2 = self.channels
        # 7 -> 14
        self.up1 = nn.ConvTranspose2d(
            c2, c1, kernel_size=4, stride=2, padding=1
        )
        # 14 -> 28
        self.up2 = nn.ConvTranspose2d(
            c1, 1, kernel_size=4, stride=2, padding=1
        )

    def upsample(self, h, switches=None):
        return self.up2(torch.relu(self.up1(h)))


class UnpoolDecoder(_ConvDecoder):
    """Z (N, l, 7, 7) and the encoder's switches [s₁, s₂] -> x̂ (N, 1, 28, 28).

    Each stage mirrors an encoder stage backwards: max-unpooling puts each value where the matching
    pooling found its maximum (zeros elsewhere), then a 3×3 convolution fills in around it. The switches
    come from ``ConvEncoder(..., return_switches=True)``; decoding without them raises ValueError.
    """

    name = "unpool"

    def __init__(self, channels=(16, 32), code_channels: int = 4):
        super().__init__(channels, code_channels)
        c1, c2 = self.channels
        self.unpool = nn.MaxUnpool2d(2)
        # 14×14, after undoing the second pooling
        self.conv1 = nn.Conv2d(c2, c1, kernel_size=3, padding=1)
        # 28×28, after undoing the first
        self.conv2 = nn.Conv2d(c1, 1, kernel_size=3, padding=1)

    def upsample(self, h, switches):
        if switches is None or len(switches) != 2:
            raise ValueError(
                "The 'unpool' decoder needs the encoder's switches [s₁, s₂] from "
                "ConvEncoder(..., return_switches=True); got "
                f"{'none' if switches is None else f'{len(switches)} tensors'}."
            )
        s1, s2 = switches
        if s2.shape != h.shape or s1.shape[:2] != (
            h.shape[0],
            self.channels[0],
        ):
            raise ValueError(
                f"Switches of shapes {tuple(s1.shape)} and {tuple(s2.shape)} do not fit codes of "
                f"batch size {h.shape[0]}: expected (N, {self.channels[0]}, 14, 14) and "
                f"(N, {self.channels[1]}, 7, 7)."
            )
        # (N, c₁, 14, 14)
        h = torch.relu(
            self.conv1(self.unpool(h, s2, output_size=(14, 14)))
        )
        # (N, 1, 28, 28)
        return self.conv2(self.unpool(h, s1, output_size=(28, 28)))


class ResizeDecoder(_ConvDecoder):
    """Z (N, l, 7, 7) -> x̂ (N, 1, 28, 28) by resize-convolution: nearest-neighbour ×2, then a 3×3 convolution.

    Copying each pixel into a 2×2 patch treats every output pixel alike, so no checkerboard can arise
    from the upsampling (Odena, Dumoulin & Olah 2016). ``switches`` is ignored.
    """

    name = "resize"

    def __init__(self, channels=(16, 32), code_channels: int = 4):
        super().__init__(channels, code_channels)
        c1, c2 = self.channels
        self.resize = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv1 = nn.Conv2d(c2, c1, kernel_size=3, padding=1)  # 14×14
        self.conv2 = nn.Conv2d(c1, 1, kernel_size=3, padding=1)  # 28×28

    def upsample(self, h, switches=None):
        h = torch.relu(self.conv1(self.resize(h)))  # (N, c₁, 14, 14)
        return self.conv2(self.resize(h))  # (N, 1, 28, 28)


DECODER_CLASSES = {
    "transposed": TransposedDecoder,
    "unpool": UnpoolDecoder,
    "resize": ResizeDecoder,
}


def make_decoder(
    name: str, channels=(16, 32), code_channels: int = 4
) -> _ConvDecoder:
    """The decoder called ``name`` ("transposed", "unpool" or "resize") mirroring a ConvEncoder.

    channels, code_channels: those of the encoder it mirrors. Raises ValueError for an unknown name.
    """
    return DECODER_CLASSES[_decoder_name(name)](channels, code_channels)


class ConvAutoencoder(nn.Module):
    """x̂ = 𝓓(𝓔(x)) for 28×28 grey images, with a ConvEncoder and the decoder named by ``decoder``.

    decoder: "transposed", "unpool" or "resize". channels: the encoder's (c₁, c₂). code_channels: l.
    downsample: the encoder's, "pool" or "stride" (see :class:`ConvEncoder`; not with "unpool").
    forward: (N, 1, 28, 28) -> x̂ (N, 1, 28, 28) in [0, 1]; encode: (N, 1, 28, 28) -> Z (N, l, 7, 7).
    With "unpool", forward hands the encoder's switches to the decoder; decode(z) alone then needs them
    too: decode(z, switches). Raises ValueError for an unknown decoder name or input not (N, 1, 28, 28).
    """

    def __init__(
        self,
        decoder: str = "transposed",
        channels=(16, 32),
        code_channels: int = 4,
        downsample: str = "pool",
    ):
        super().__init__()
        self.decoder_name = _decoder_name(decoder)
        self.encoder = ConvEncoder(
            channels,
            code_channels,
            return_switches=(decoder == "unpool"),
            downsample=downsample,
        )
        self.decoder = make_decoder(decoder, channels, code_channels)

    @property
    def code_shape(self) -> tuple[int, int, int]:
        return (self.encoder.code_channels, CODE_SIZE, CODE_SIZE)

    def encode_with_switches(self, x: torch.Tensor):
        """(N, 1, 28, 28) -> (Z, switches), switches [s₁, s₂] for "unpool" and None otherwise."""
        out = self.encoder(x)
        return out if self.encoder.return_switches else (out, None)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_with_switches(x)[0]

    def decode(self, z: torch.Tensor, switches=None) -> torch.Tensor:
        return self.decoder(z, switches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, switches = self.encode_with_switches(x)
        return self.decoder(z, switches)


def parameter_counts(
    channels=(16, 32), code_channels: int = 4
) -> dict[str, int]:
    """Trainable parameters of ConvAutoencoder(name, channels, code_channels) for each decoder name."""
    return {
        name: count_parameters(
            ConvAutoencoder(name, channels, code_channels)
        )
        for name in DECODERS
    }


COMPARED = (*DECODERS, "strided", "dense")


def compared_model(
    name: str, channels=(16, 32), code_channels: int = 4
) -> nn.Module:
    """The autoencoders the convolution chapter trains side by side, all with l·49 code numbers.

    name: one of DECODERS, a ConvAutoencoder with that decoder; "strided", ConvAutoencoder("transposed",
    downsample="stride"), whose encoder halves the size with strided convolutions instead of pooling;
    "dense", the fully connected Autoencoder([784, 256, l·49]) of the structure chapter with the same
    code size, which sees the image as a list of 784 numbers. Each maps (N, 1, 28, 28) -> (N, 1, 28, 28)
    in [0, 1]. Raises ValueError for another name.
    """
    if name == "strided":
        return ConvAutoencoder(
            "transposed", channels, code_channels, downsample="stride"
        )
    if name == "dense":
        code = integer("code_channels", code_channels, low=1)
        return Autoencoder([784, 256, code * CODE_SIZE * CODE_SIZE])
    if name not in DECODERS:
        raise ValueError(
            f"Unknown model {name!r}: expected one of {list(COMPARED)}."
        )
    return ConvAutoencoder(name, channels, code_channels)
