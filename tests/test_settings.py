"""aecourse.settings: profile, seed and device from the environment, and repeatable seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from aecourse import settings
from aecourse.settings import (
    PROFILES,
    Run,
    profile,
    seed_everything,
    seed_from_env,
    setup,
)


@pytest.fixture
def on_cpu(monkeypatch):
    """Pretend the best device is the CPU, whatever machine runs the tests."""
    monkeypatch.setattr(settings, "device", lambda: torch.device("cpu"))


def test_profiles():
    assert PROFILES == ("quick", "full")


def test_profile_defaults_to_quick_on_cpu_and_full_on_a_gpu(on_cpu):
    assert profile() == "quick"
    assert profile(torch.device("cpu")) == "quick"
    assert profile(torch.device("cuda")) == "full"
    assert profile(torch.device("mps")) == "full"


def test_profile_default_follows_the_real_device():
    expected = "quick" if settings.device().type == "cpu" else "full"
    assert profile() == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("quick", "quick"),
        ("full", "full"),
        (" FULL ", "full"),
        ("Quick", "quick"),
        ("", "quick"),
    ],
)
def test_profile_from_the_environment(
    monkeypatch, on_cpu, value, expected
):
    monkeypatch.setenv("AECOURSE_PROFILE", value)
    assert profile() == expected


def test_profile_from_the_environment_overrides_the_device(monkeypatch):
    monkeypatch.setenv("AECOURSE_PROFILE", "quick")
    assert profile(torch.device("cuda")) == "quick"
    monkeypatch.setenv("AECOURSE_PROFILE", "full")
    assert profile(torch.device("cpu")) == "full"


@pytest.mark.parametrize("value", ["bogus", "fast", "quick,full", "0"])
def test_bad_profile_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("AECOURSE_PROFILE", value)
    with pytest.raises(
        ValueError,
        match=rf"AECOURSE_PROFILE must be one of \('quick', 'full'\), got '{value}'",
    ):
        profile()
    with pytest.raises(ValueError, match="AECOURSE_PROFILE"):
        setup(verbose=False)


def test_seed_from_env(monkeypatch):
    assert seed_from_env() == 0
    monkeypatch.setenv("AECOURSE_SEED", " 42 ")
    assert seed_from_env() == 42
    monkeypatch.setenv("AECOURSE_SEED", "-3")
    assert seed_from_env() == -3


@pytest.mark.parametrize("value", ["abc", "1.5", "0x10", "seven"])
def test_bad_seed_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("AECOURSE_SEED", value)
    with pytest.raises(
        ValueError,
        match=f"AECOURSE_SEED must be an integer, got '{value}'",
    ):
        seed_from_env()
    with pytest.raises(ValueError, match="AECOURSE_SEED"):
        setup(verbose=False)


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    seed_everything(8)
    assert draw() != first
    # larger than NumPy's 32-bit seeds: reduced, not refused
    seed_everything(2**40 + 5)
    np.random.rand()


def test_setup_seeds_repeatably(on_cpu):
    setup(seed=5, verbose=False)
    a = torch.rand(4)
    setup(seed=5, verbose=False)
    b = torch.rand(4)
    setup(seed=6, verbose=False)
    c = torch.rand(4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(4), a)  # exactly PyTorch's own seeding


def test_setup_reads_the_environment_and_prints_the_run(
    monkeypatch, on_cpu, capsys
):
    monkeypatch.setenv("AECOURSE_SEED", "3")
    run = setup()
    assert run == Run(profile="quick", device=torch.device("cpu"), seed=3)
    assert capsys.readouterr().out == "profile=quick device=cpu seed=3\n"
    # an explicit seed wins over AECOURSE_SEED
    run = setup(seed=11, verbose=False)
    assert run.seed == 11
    assert capsys.readouterr().out == ""
    torch.manual_seed(11)
    expected = torch.rand(2)
    setup(seed=11, verbose=False)
    assert torch.equal(torch.rand(2), expected)


def test_setup_with_the_full_profile(monkeypatch, on_cpu):
    monkeypatch.setenv("AECOURSE_PROFILE", "full")
    run = setup(seed=0, verbose=False)
    assert str(run) == "profile=full device=cpu seed=0"


def test_run_choose_picks_by_profile():
    quick = Run("quick", torch.device("cpu"), 0)
    full = Run("full", torch.device("cuda"), 1)
    assert quick.choose(quick=2, full=20) == 2
    assert full.choose(quick=2, full=20) == 20
    assert str(full) == "profile=full device=cuda seed=1"
    with pytest.raises(TypeError):
        # keywords only, so the two numbers cannot be swapped by accident
        quick.choose(2, 20)


def test_device_is_a_torch_device_that_works():
    dev = settings.device()
    assert isinstance(dev, torch.device) and dev.type in (
        "cpu",
        "cuda",
        "mps",
    )
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    assert torch.ones(2, device=dev).sum().item() == 2
