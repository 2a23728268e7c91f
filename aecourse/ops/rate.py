"""What a code costs in bits: the rate of a discrete code, and a uniform b-bit quantizer that turns a
plain autoencoder's continuous code into one (the vector-quantization chapter).

A continuous code has no rate until it is quantized: a float32 unit holds 32 bits whether or not the
decoder needs them. Two ways of paying a fixed number of bits per image are compared in the chapter:

- a discrete code of ``positions`` symbols, each one of K codebook entries, costs
  positions × log₂ K bits per image (:func:`bits_per_image`): a 7 × 7 grid of codes from a codebook
  of K = 64 entries costs 49 · 6 = 294 bits, whatever the codebook vectors are;
- a plain autoencoder's code of ``units`` real numbers, each rounded to one of 2^b levels, costs
  units × b bits (:class:`UniformQuantizer`). Each unit gets its own range, the smallest and largest
  value it took on the *training* codes, cut into 2^b bins of equal width Δ = (high − low)/2^b; a value
  is sent as its bin's index and decoded as the bin's centre, so inside the range the error is at most
  Δ/2, and values outside it are clipped to the first or last bin.

Both are fixed-length rates: every image costs the same. An entropy coder could do better where some
symbols are more frequent than others; the prior of the two-stage model measures exactly that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aecourse._args import describe, integer


def bits_per_image(positions: int, num_codes: int) -> float:
    """positions × log₂ K: the bits that name one of K codes at each of ``positions`` places.

    positions: code positions per image (49 for a 7 × 7 grid); num_codes: K ≥ 1, the codebook size.
    Returns a float (0.0 for K = 1: a single code carries nothing). Raises ValueError unless both are
    integers, positions ≥ 1 and K ≥ 1.
    """
    integer("positions", positions, low=1)
    integer("num_codes", num_codes, low=1)
    return positions * math.log2(num_codes)


def _check_codes(name: str, codes) -> torch.Tensor:
    """codes itself if it is a float tensor (N, units) with N ≥ 1."""
    if (
        not isinstance(codes, torch.Tensor)
        or not codes.dtype.is_floating_point
        or codes.dim() != 2
        or len(codes) == 0
    ):
        raise ValueError(
            f"{name} must be a float tensor of codes (N, units) with N ≥ 1, got {describe(codes)}."
        )
    return codes


@dataclass
class UniformQuantizer:
    """A uniform b-bit scalar quantizer, one range per code unit, fitted on training codes.

    low, high: (units,) each unit's smallest and largest training value; bits: b, so 2^b levels.
    Build it with :meth:`fit`; :meth:`encode` gives the integer levels that would be sent,
    :meth:`decode` the values the decoder would get back, and calling it does both.
    """

    low: torch.Tensor
    high: torch.Tensor
    bits: int

    @classmethod
    def fit(
        cls, train_codes: torch.Tensor, bits: int
    ) -> UniformQuantizer:
        """The quantizer whose ranges are those of ``train_codes`` (N, units), with 2^bits levels each.

        Raises ValueError unless train_codes is a float tensor (N, units) and bits an integer from 1
        to 24 (beyond that a float32 code is already as fine as the bins).
        """
        train_codes = _check_codes("train_codes", train_codes)
        integer("bits", bits, low=1, high=24)
        low, high = train_codes.detach().aminmax(dim=0)
        return cls(low, high, bits)

    @property
    def units(self) -> int:
        return len(self.low)

    @property
    def levels(self) -> int:
        return 2**self.bits

    @property
    def rate(self) -> int:
        """Bits per image: units × b."""
        return self.units * self.bits

    @property
    def step(self) -> torch.Tensor:
        """Δ per unit, (units,): the width of one bin."""
        return (self.high - self.low) / self.levels

    def _check(self, codes) -> torch.Tensor:
        codes = _check_codes("codes", codes)
        if codes.shape[1] != self.units:
            raise ValueError(
                f"codes must have {self.units} units, as the training codes had, got shape "
                f"{tuple(codes.shape)}."
            )
        return codes

    def encode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (N, units) -> levels (N, units), int64 in 0 .. 2^b − 1: the index of each value's bin.

        A unit that took a single value on the training codes (Δ = 0) always gets level 0.
        """
        codes = self._check(codes)
        low, step = self.low.to(codes), self.step.to(codes)
        # a unit with Δ = 0 divides by 1 instead: (codes - low) / 1 is clipped to level 0 or the last,
        # and decode puts it back at low + ½·0 = low either way
        scaled = (codes - low) / torch.where(step > 0, step, 1.0)
        levels = scaled.floor().clamp(0, self.levels - 1).long()
        return torch.where(step > 0, levels, 0)

    def decode(self, levels: torch.Tensor) -> torch.Tensor:
        """levels (N, units) integers -> values (N, units): each bin's centre, low + (level + ½)·Δ."""
        if (
            not isinstance(levels, torch.Tensor)
            or levels.dtype.is_floating_point
            or levels.dim() != 2
            or levels.shape[1] != self.units
        ):
            raise ValueError(
                f"levels must be an integer tensor (N, {self.units}), got {describe(levels)}."
            )
        low, step = (
            self.low.to(levels.device),
            self.step.to(levels.device),
        )
        return low + (levels.to(low.dtype) + 0.5) * step

    def __call__(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (N, units) -> quantized codes (N, units): what the decoder sees after sending b bits per unit."""
        return self.decode(self.encode(codes)).to(codes.dtype)
