"""Run settings shared by every chapter: the device, the seed and the run profile.

Three environment variables steer a run, so that the same notebook serves a laptop, CI and a GPU:

- ``AECOURSE_PROFILE``: ``quick`` (small sizes and few epochs, for CI and slow CPUs) or ``full`` (the sizes
  the book was built with). Default: ``full`` when a GPU is present, ``quick`` otherwise.
- ``AECOURSE_SEED``: an integer seed for every random generator (default 0).
- ``AECOURSE_DATA``: where data sets are found (see :mod:`aecourse.data`).

A chapter calls :func:`setup` once and then picks its sizes with ``run.choose(quick=..., full=...)``:
both profiles run the same code, only the numbers differ.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PROFILES = ("quick", "full")


def device() -> torch.device:
    """The best device here: CUDA, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        return torch.device("mps")
    return torch.device("cpu")


def profile(dev: torch.device | None = None) -> str:
    """The run profile from ``AECOURSE_PROFILE``; without it, ``full`` on a GPU and ``quick`` on a CPU.

    Raises ValueError for any value other than ``quick`` or ``full``.
    """
    value = os.environ.get("AECOURSE_PROFILE", "").strip().lower()
    if not value:
        dev = dev if dev is not None else device()
        return "quick" if dev.type == "cpu" else "full"
    if value not in PROFILES:
        raise ValueError(
            f"AECOURSE_PROFILE must be one of {PROFILES}, got {os.environ['AECOURSE_PROFILE']!r}. "
            "Use 'quick' for a fast run on a CPU and 'full' for the book's sizes."
        )
    return value


def seed_from_env() -> int:
    """The seed from ``AECOURSE_SEED`` (default 0). Raises ValueError if it is not an integer."""
    value = os.environ.get("AECOURSE_SEED", "").strip() or "0"
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"AECOURSE_SEED must be an integer, got {value!r}."
        ) from None


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (all devices), so that a run repeats."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Run:
    """What a chapter runs with: profile, device and seed."""

    profile: str
    device: torch.device
    seed: int

    def choose(self, *, quick, full):
        """The value for this run's profile: ``run.choose(quick=2, full=20)``."""
        return quick if self.profile == "quick" else full

    def __str__(self) -> str:
        return f"profile={self.profile} device={self.device.type} seed={self.seed}"


def setup(seed: int | None = None, verbose: bool = True) -> Run:
    """Pick device, profile and seed from the environment, seed every generator and print the choice.

    seed: overrides ``AECOURSE_SEED`` when given.
    """
    if seed is not None and not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    dev = device()
    run = Run(
        profile=profile(dev),
        device=dev,
        seed=seed_from_env() if seed is None else seed,
    )
    seed_everything(run.seed)
    if verbose:
        print(run)
    return run
