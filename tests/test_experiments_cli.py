"""aecourse.experiments._cli: the shard's syntax and its errors, the common options and their checks,
and the default results file of a shard."""

from __future__ import annotations

import argparse

import pytest
import torch

from aecourse.experiments import _cli
from aecourse.experiments.stamp import RESULTS


def test_parse_shard():
    assert _cli.parse_shard("0/1") == (0, 1)
    assert _cli.parse_shard("2/3") == (2, 3)


@pytest.mark.parametrize(
    "text, message",
    [
        ("2/2", "0 <= K < N"),
        ("-1/2", "0 <= K < N"),
        ("0/0", "0 <= K < N"),
        ("x", "must be K/N"),
        ("1", "must be K/N"),
        ("1/2/3", "must be K/N"),
        ("a/b", "must be K/N"),
        ("", "must be K/N"),
    ],
)
def test_parse_shard_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        _cli.parse_shard(text)


def _parse(argv):
    parser = _cli.add_common(
        argparse.ArgumentParser(), (0, 1, 2), "sweep"
    )
    return parser.parse_args(argv)


def test_the_common_options_and_their_defaults():
    args = _parse([])
    assert args.seeds == [0, 1, 2] and args.shard == "0/1"
    assert (args.out, args.device, args.threads, args.hours) == (
        None,
        None,
        None,
        None,
    )
    assert args.fresh is False
    args = _parse(
        ["--seeds", "5", "--hours", "0.5", "--fresh", "--shard", "1/2"]
    )
    assert args.seeds == [5] and args.hours == 0.5 and args.fresh
    assert _cli.apply(args) == (1, 2)


def test_apply_sets_the_threads_and_checks_them(monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    _cli.apply(_parse(["--threads", "3"]))
    assert threads == [3]
    with pytest.raises(ValueError, match="--threads must be"):
        _cli.apply(_parse(["--threads", "0"]))
    with pytest.raises(ValueError, match="--hours"):
        _cli.apply(_parse(["--hours", "-1"]))
    with pytest.raises(ValueError, match="K/N"):
        _cli.apply(_parse(["--shard", "1of2"]))


def test_default_out_names_the_shard(tmp_path):
    assert _cli.default_out(_parse([]), "sweep", (0, 1)) == (
        RESULTS / "sweep.json"
    )
    assert _cli.default_out(_parse([]), "sweep", (1, 3)) == (
        RESULTS / "sweep.1of3.json"
    )
    out = tmp_path / "mine.json"
    assert (
        _cli.default_out(_parse(["--out", str(out)]), "sweep", (1, 3))
        == out
    )
