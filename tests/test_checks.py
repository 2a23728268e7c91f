"""aecourse.checks: each checker accepts a right answer, and rejects wrong ones, stubs and crashes with a reason."""

from __future__ import annotations

import importlib
import itertools
import math
import pkgutil
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_output_width import width

from aecourse import checks
from aecourse.teaching.tables import OUTPUT_CHARS


def stub(*args):
    raise NotImplementedError


def crashes(*args):
    return 1 / 0


def verdict(capsys) -> str:
    out = capsys.readouterr().out
    first, *rest = out.rstrip("\n").split("\n")
    # One verdict: its first line, then only the wrapped continuation lines of the same sentence.
    assert first.startswith(("✅ Correct: ", "❌ Not yet: ")), out
    assert all(line.startswith("  ") for line in rest), (
        f"a checker prints one verdict, got {out!r}"
    )
    # every line fits the book's output box (the mark counts as two cells)
    assert all(width(line) <= OUTPUT_CHARS for line in [first, *rest]), (
        out
    )
    return " ".join([first] + [line.strip() for line in rest]) + "\n"


def assert_right(checker, fn, capsys):
    assert checker(fn) is True
    assert verdict(capsys).startswith("✅ Correct: ")


def assert_wrong(checker, fn, capsys, reason: str):
    assert checker(fn) is False
    out = verdict(capsys)
    assert out.startswith("❌ Not yet: ")
    assert reason in out, out


@pytest.mark.parametrize(
    "checker",
    [getattr(checks, name) for name in checks.__all__],
    ids=lambda checker: checker.__name__,
)
def test_every_checker_handles_stubs_and_crashes(checker, capsys):
    assert_wrong(
        checker, stub, capsys, "still raises NotImplementedError"
    )
    assert_wrong(
        checker,
        crashes,
        capsys,
        "raised ZeroDivisionError: division by zero",
    )
    assert_wrong(checker, lambda *args: "an answer", capsys, "")


# --- structure -------------------------------------------------------------------------------------------


def test_bernoulli_loss(capsys):
    def right(x_hat, x):
        return F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)

    def by_hand(x_hat, x):
        return (
            -(x * x_hat.log() + (1 - x) * (1 - x_hat).log())
            .flatten(1)
            .sum(1)
            .mean()
        )

    assert_right(checks.check_bernoulli_loss, right, capsys)
    assert_right(checks.check_bernoulli_loss, by_hand, capsys)
    assert_wrong(
        checks.check_bernoulli_loss,
        lambda x_hat, x: F.binary_cross_entropy(x_hat, x),
        capsys,
        "you averaged over pixels too",
    )
    assert_wrong(
        checks.check_bernoulli_loss,
        lambda x_hat, x: F.mse_loss(x_hat, x, reduction="sum") / len(x),
        capsys,
        "the loss differs from the reference",
    )
    # summed over the batch too
    assert_wrong(
        checks.check_bernoulli_loss,
        lambda x_hat, x: F.binary_cross_entropy(
            x_hat, x, reduction="sum"
        ),
        capsys,
        "differs from the reference",
    )
    assert_wrong(
        checks.check_bernoulli_loss,
        lambda x_hat, x: right(x_hat, x).item(),
        capsys,
        "should be a torch.Tensor, got float",
    )
    # forgot the mean over the batch
    assert_wrong(
        checks.check_bernoulli_loss,
        lambda x_hat, x: (
            F.binary_cross_entropy(x_hat, x, reduction="none")
            .flatten(1)
            .sum(1)
        ),
        capsys,
        "has shape (16,), expected ()",
    )


def test_pca_reconstruction(capsys):
    def right(x, mean, components):
        return mean + (x - mean) @ components.T @ components

    assert_right(checks.check_pca_reconstruction, right, capsys)
    # float32 is fine
    assert_right(
        checks.check_pca_reconstruction,
        lambda x, m, v: right(x, m, v).float(),
        capsys,
    )
    assert_wrong(
        checks.check_pca_reconstruction,
        lambda x, mean, v: x @ v.T @ v,
        capsys,
        "subtract the mean before projecting",
    )
    # shapes do not fit
    assert_wrong(
        checks.check_pca_reconstruction,
        lambda x, mean, v: mean + (x - mean) @ v @ v.T @ v.T @ v,
        capsys,
        "raised RuntimeError",
    )
    # V read as (d, k): the orientation flipped
    assert_wrong(
        checks.check_pca_reconstruction,
        lambda x, mean, v: mean + (x - mean) @ v @ v.T,
        capsys,
        "you treated V as (d, k)",
    )
    # the codes, not the reconstruction
    assert_wrong(
        checks.check_pca_reconstruction,
        lambda x, mean, v: (x - mean) @ v.T,
        capsys,
        "has shape (50, 3), expected (50, 12)",
    )
    # forgot to add the mean back
    assert_wrong(
        checks.check_pca_reconstruction,
        lambda x, mean, v: (x - mean) @ v.T @ v,
        capsys,
        "differs from the reference",
    )


def principal_angles_by_qr(a, b):
    """The solution: orthonormal bases, the singular values of Q_aᵀ Q_b are the cosines."""
    q_a, q_b = torch.linalg.qr(a).Q, torch.linalg.qr(b).Q
    cosines = torch.linalg.svdvals(q_a.T @ q_b).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cosines))


def test_principal_angles(capsys):
    import numpy as np
    from scipy.linalg import subspace_angles

    check = checks.check_principal_angles
    assert_right(check, principal_angles_by_qr, capsys)
    # SciPy's own, sorted, as a tensor
    assert_right(
        check,
        lambda a, b: torch.from_numpy(
            np.sort(np.degrees(subspace_angles(a.numpy(), b.numpy())))
        ),
        capsys,
    )
    # the hand-made case: span{e1, e2} and span{e1 + e2, e3} meet at 0° and 90°
    e = torch.eye(5, dtype=torch.float64)
    hand = principal_angles_by_qr(
        torch.stack([e[0], e[1]], 1), torch.stack([e[0] + e[1], e[2]], 1)
    )
    # (arccos near 1 loses half the digits: 1e-6 degrees of 0)
    assert torch.allclose(
        hand, torch.tensor([0.0, 90.0], dtype=torch.float64), atol=1e-5
    )

    def raw(a, b, clamp=True):
        cosines = torch.linalg.svdvals(a.T @ b)
        return torch.rad2deg(
            torch.arccos(cosines.clamp(-1, 1) if clamp else cosines)
        )

    def column_by_column(a, b):
        cos = F.cosine_similarity(a, b, dim=0).clamp(-1, 1)
        return torch.rad2deg(torch.arccos(cos))

    def unclamped(a, b):
        q_a, q_b = torch.linalg.qr(a).Q, torch.linalg.qr(b).Q
        return torch.rad2deg(
            torch.arccos(torch.linalg.svdvals(q_a.T @ q_b))
        )

    wrong = [
        (raw, "orthonormalise each basis first (torch.linalg.qr)"),
        (
            lambda a, b: raw(a, b, clamp=False),
            "the singular values of aᵀb are the cosines of the angles only when",
        ),
        (
            lambda a, b: torch.deg2rad(principal_angles_by_qr(a, b)),
            "your angles are in radians",
        ),
        (
            lambda a, b: torch.cos(
                torch.deg2rad(principal_angles_by_qr(a, b))
            ),
            "you returned the cosines",
        ),
        (
            lambda a, b: principal_angles_by_qr(a, b).flip(0),
            "sort the angles in ascending order",
        ),
        (
            column_by_column,
            "for two random subspaces you compared the columns one by one",
        ),
        (
            lambda a, b: column_by_column(a, b).sort().values,
            "you compared the columns one by one",
        ),
        (
            unclamped,
            "for b = a·A, the same subspace in another basis, your angles hold NaN",
        ),
        (
            lambda a, b: principal_angles_by_qr(a.float(), b.float()),
            "for b = a·A, the same subspace in another basis, your angles are off "
            "by hundredths of a degree: compute in float64",
        ),
        (
            lambda a, b: principal_angles_by_qr(a, b)[:2],
            "for two random subspaces, the angles have shape (2,), expected (3,)",
        ),
        (
            lambda a, b: principal_angles_by_qr(a, b).numpy(),
            "should be a torch.Tensor, got ndarray",
        ),
        (
            lambda a, b: principal_angles_by_qr(a, b) + 0.01,
            "the angles differ from the reference by up to 0.01",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


# --- number system ---------------------------------------------------------------------------------------


def test_binary_code(capsys):
    assert_right(
        checks.check_binary_code, lambda c: (c > 0.5).long(), capsys
    )
    assert_right(
        checks.check_binary_code, lambda c: (c > 0.5).int(), capsys
    )
    # the verbs agree with "the bits"
    checks.check_binary_code(lambda c: (c > 0.5).long())
    assert (
        "the bits (a value of exactly 0.5 counts as 0) match the reference."
        in (verdict(capsys))
    )
    # >= instead of >: the tie at exactly 0.5 is named
    assert_wrong(
        checks.check_binary_code,
        lambda c: (c >= 0.5).long(),
        capsys,
        "the value of exactly 0.5 (row 3, unit 1) gave 1, but a value of "
        "exactly 0.5 counts as 0: threshold with >, not >=.",
    )
    for flipped in (
        lambda c: (c < 0.5).long(),
        lambda c: (c <= 0.5).long(),
        lambda c: 1 - (c > 0.5).long(),
    ):
        assert_wrong(
            checks.check_binary_code,
            flipped,
            capsys,
            "your bits are flipped: 1 where the value is above 0.5",
        )
    assert_wrong(
        checks.check_binary_code,
        lambda c: c > 0.5,
        capsys,
        "not booleans",
    )
    assert_wrong(
        checks.check_binary_code,
        lambda c: (c > 0.5).float(),
        capsys,
        "not floats",
    )
    assert_wrong(
        checks.check_binary_code,
        lambda c: c.round(),
        capsys,
        "not floats",
    )
    assert_wrong(
        checks.check_binary_code,
        lambda c: (c > 0.5).tolist(),
        capsys,
        "return a tensor, got list",
    )
    assert_wrong(
        checks.check_binary_code,
        lambda c: (c[:2] > 0.5).long(),
        capsys,
        "the bits (a value of exactly 0.5 counts as 0) have shape (2, 3), "
        "expected (3, 3)",
    )
    assert_wrong(
        checks.check_binary_code,
        lambda c: (c > 0.9).long(),
        capsys,
        "the bits (a value of exactly 0.5 counts as 0) differ from the "
        "reference by up to 1",
    )


def test_close_verbs_agree_with_a_plural_name(capsys):
    from aecourse.checks._verdict import _close

    one, two = torch.zeros(2), torch.ones(2)
    assert _close(one, one, "the loss")
    assert verdict(capsys).endswith("the loss matches the reference.\n")
    assert _close(one, one, "the codes", plural=True)
    assert verdict(capsys).endswith("the codes match the reference.\n")
    assert not _close(one, two, "the codes", plural=True)
    assert "the codes differ from the reference by up to 1" in verdict(
        capsys
    )
    assert not _close(torch.zeros(3), two, "the codes", plural=True)
    assert "the codes have shape (3,), expected (2,)" in verdict(capsys)
    assert not _close(torch.zeros(3), two, "the loss")
    assert "the loss has shape (3,), expected (2,)" in verdict(capsys)


def test_counts_in_messages_agree_with_their_number():
    from aecourse.checks._verdict import _count

    assert _count(1, "token") == "1 token"
    assert _count(0, "token") == "0 tokens"
    assert _count(3, "hidden layer") == "3 hidden layers"


def test_min_code_bits(capsys):
    assert_right(
        checks.check_min_code_bits, lambda n: (n - 1).bit_length(), capsys
    )
    assert_right(
        checks.check_min_code_bits,
        lambda n: math.ceil(math.log2(n)) if n < 2**50 else 61,
        capsys,
    )
    # a float, even a whole one, is not the int the exercise asks for
    for as_float, got in (
        (lambda n: float((n - 1).bit_length()), "1.0"),
        (lambda n: math.log2(n) + 0.5, "1.5"),
        (lambda n: (n - 1).bit_length() == 1, "True"),
    ):
        assert_wrong(
            checks.check_min_code_bits,
            as_float,
            capsys,
            f"for n = 2, the number of units must be an integer, got {got}: "
            "return a Python int",
        )
    # a floating-point log2 rounds 2^60 + 1 down to 2^60
    assert_wrong(
        checks.check_min_code_bits,
        lambda n: math.ceil(math.log2(n)),
        capsys,
        "for n = 2^60 + 1 you answered 60: in floating point, "
        "math.log2(n) comes out as exactly 60.0, so its ceiling is one short",
    )
    assert_wrong(
        checks.check_min_code_bits,
        lambda n: int(math.log2(n)),
        capsys,
        "for n = 3 you answered 1, but the fewest is 2: h binary units "
        "give 2^h codes, and 2^1 = 2 < 3 ≤ 2^2 = 4.",
    )
    # floor + 1 is wrong at powers of two
    assert_wrong(
        checks.check_min_code_bits,
        lambda n: 1 if n == 2 else int(math.log2(n)) + 1,
        capsys,
        "for n = 8 you answered 4, but the fewest is 3: h binary units "
        "give 2^h codes, and 2^2 = 4 < 8 ≤ 2^3 = 8.",
    )
    assert_wrong(
        checks.check_min_code_bits,
        lambda n: n,
        capsys,
        "for n = 2 you answered 2, but the fewest is 1: h binary units "
        "give 2^h codes, and 2^0 = 1 < 2 ≤ 2^1 = 2.",
    )


def same_up_to_symmetry(a, b):
    """The solution: try every order of the units with every set of flips."""
    h = a.shape[1]
    for order in itertools.permutations(range(h)):
        for flips in itertools.product([0, 1], repeat=h):
            flipped = a[:, list(order)] ^ torch.tensor(flips)
            if torch.equal(flipped, b):
                return True
    return False


def test_same_up_to_symmetry(capsys):
    import numpy as np

    from aecourse.checks.number_system import _symmetry_cases

    check = checks.check_same_up_to_symmetry
    # the checker's answers are the brute force's
    for a, b, expected, _ in _symmetry_cases():
        assert same_up_to_symmetry(a, b) == expected

    def canonical(
        t,
    ):  # each unit flipped to start with 0, the units sorted
        return sorted(
            tuple(col) if col[0] == 0 else tuple(1 - v for v in col)
            for col in t.T.tolist()
        )

    assert_right(check, same_up_to_symmetry, capsys)
    assert_right(check, lambda a, b: canonical(a) == canonical(b), capsys)
    # a NumPy bool and a one-element tensor are fine
    assert_right(
        check, lambda a, b: np.bool_(same_up_to_symmetry(a, b)), capsys
    )
    assert_right(
        check,
        lambda a, b: torch.tensor([same_up_to_symmetry(a, b)]),
        capsys,
    )

    def permutations_only(a, b):
        return any(
            torch.equal(a[:, list(order)], b)
            for order in itertools.permutations(range(a.shape[1]))
        )

    def flips_only(a, b):
        return all(
            torch.equal(b[:, k], a[:, k])
            or torch.equal(b[:, k], 1 - a[:, k])
            for k in range(a.shape[1])
        )

    def as_sets(a, b):
        return {tuple(r) for r in a.tolist()} == {
            tuple(r) for r in b.tolist()
        }

    def unit_by_unit(
        a, b
    ):  # each unit of b is some unit of a, maybe flipped
        return all(
            any(torch.equal(u, v) or torch.equal(u, 1 - v) for v in a.T)
            for u in b.T
        )

    def three_units_only(a, b):
        if a.shape[1] != 3:
            return False
        return same_up_to_symmetry(a, b)

    wrong = [
        (permutations_only, "flipping one unit gives the same code"),
        (flips_only, "permuting the units gives the same code"),
        (
            lambda a, b: permutations_only(a, b) or flips_only(a, b),
            "try every order of the units combined with every set of flips",
        ),
        (lambda a, b: True, "here two symbols share a code"),
        (as_sets, "compare the rows in order, not the set of codes"),
        (unit_by_unit, "each unit of a must be used exactly once"),
        (three_units_only, "must work for any number of units h"),
        (lambda a, b: torch.equal(a, b), "permuting the units"),
        (lambda a, b: int(same_up_to_symmetry(a, b)), "got int"),
        (lambda a, b: "yes", "return True or False, got str"),
        (
            lambda a, b: torch.tensor([True, True]),
            "return True or False, got (2,)",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


# --- convolution -----------------------------------------------------------------------------------------


def scatter_add(x, kernel, s):
    (h, w), (kh, kw) = x.shape, kernel.shape
    out = torch.zeros((h - 1) * s + kh, (w - 1) * s + kw, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[i * s : i * s + kh, j * s : j * s + kw] += (
                x[i, j] * kernel
            )
    return out


def test_conv_transpose2d(capsys):
    from aecourse.ops.convolution import conv_transpose2d

    assert_right(checks.check_conv_transpose2d, scatter_add, capsys)
    assert_right(
        checks.check_conv_transpose2d,
        lambda x, k, s: conv_transpose2d(x, k, s),
        capsys,
    )
    assert_right(
        checks.check_conv_transpose2d,
        lambda x, k, s: scatter_add(x.float(), k.float(), s),
        capsys,
    )

    def overwrite(x, kernel, s):
        (h, w), (kh, kw) = x.shape, kernel.shape
        out = torch.zeros(
            (h - 1) * s + kh, (w - 1) * s + kw, dtype=x.dtype
        )
        for i in range(h):
            for j in range(w):
                out[i * s : i * s + kh, j * s : j * s + kw] = (
                    x[i, j] * kernel
                )
        return out

    # The worked example has stride = kernel size: no overlaps, so overwriting passes it and fails later.
    assert_wrong(
        checks.check_conv_transpose2d,
        overwrite,
        capsys,
        "must add up (+=)",
    )
    # a flipped kernel
    assert_wrong(
        checks.check_conv_transpose2d,
        lambda x, k, s: scatter_add(x, k.flip(0, 1), s),
        capsys,
        "differs from torch's conv_transpose2d",
    )
    assert_wrong(
        checks.check_conv_transpose2d,
        lambda x, k, s: F.conv2d(x[None, None], k[None, None])[0, 0],
        capsys,
        "expected (4, 4)",
    )
    assert_wrong(
        checks.check_conv_transpose2d,
        lambda x, k, s: scatter_add(x, k, s).tolist(),
        capsys,
        "return a tensor, got list",
    )


def test_max_unpool2d(capsys):
    from aecourse.ops.convolution import average_unpool2d, max_unpool2d

    def by_hand(x, switches, output_size):
        h, w = output_size
        out = torch.zeros(h * w, dtype=x.dtype)
        out[switches.flatten()] = x.flatten()
        return out.reshape(h, w)

    assert_right(checks.check_max_unpool2d, by_hand, capsys)
    assert_right(checks.check_max_unpool2d, max_unpool2d, capsys)

    def everywhere(
        x, switches, output_size
    ):  # copies into the whole window: average unpooling
        out = torch.zeros(output_size)
        up = average_unpool2d(x, output_size[0] // x.shape[0])
        out[: up.shape[0], : up.shape[1]] = up
        return out

    def transposed_index(
        x, switches, output_size
    ):  # reads switch k as column k // H, row k % H
        h, w = output_size
        out = torch.zeros(w, h)
        out.view(-1)[switches.flatten()] = x.flatten()
        return out.T

    assert_wrong(
        checks.check_max_unpool2d,
        everywhere,
        capsys,
        "only where its maximum was",
    )
    assert_wrong(
        checks.check_max_unpool2d,
        transposed_index,
        capsys,
        "row k // W, column k % W",
    )
    assert_wrong(
        checks.check_max_unpool2d,
        lambda x, s, size: by_hand(x, s, size)[
            : 2 * x.shape[0], : 2 * x.shape[1]
        ],
        capsys,
        "use output_size",
    )


def test_transposed_output_size(capsys):
    assert_right(
        checks.check_transposed_output_size,
        lambda u, k, s, p, op: (u - 1) * s - 2 * p + k + op,
        capsys,
    )
    assert_wrong(
        checks.check_transposed_output_size,
        lambda u, k, s, p, op: u * s,
        capsys,
        "u·s is only the simple rule",
    )
    assert_wrong(
        checks.check_transposed_output_size,
        lambda u, k, s, p, op: (u - 1) * s - 2 * p + k,
        capsys,
        "for u=7, k=3, s=2, p=1, output_padding=1 you answered 13, but ConvTranspose2d gives 14",
    )
    assert_wrong(
        checks.check_transposed_output_size,
        lambda u, k, s, p, op: (u - 1) * s - p + k + op,
        capsys,
        "you answered 15",
    )


# --- denoising -------------------------------------------------------------------------------------------


def test_mask(capsys):
    from aecourse.ops.corruptions import mask

    assert_right(
        checks.check_mask,
        lambda x, nu: x * (torch.rand_like(x) >= nu),
        capsys,
    )
    assert_right(checks.check_mask, lambda x, nu: mask(x, nu), capsys)
    assert_wrong(
        checks.check_mask,
        lambda x, nu: F.dropout(x, nu) if nu < 1 else torch.zeros_like(x),
        capsys,
        "scaled by 1/(1 − ν), as dropout does",
    )
    assert_wrong(
        checks.check_mask,
        lambda x, nu: x * (torch.rand_like(x) < nu),
        capsys,
        "keep with probability ν instead of dropping",
    )
    assert_wrong(
        checks.check_mask,
        lambda x, nu: x * (torch.rand_like(x[:1]) >= nu),
        capsys,
        "the zeros fall in the same places for every image",
    )
    assert_wrong(
        checks.check_mask,
        lambda x, nu: x.mul_(torch.rand_like(x) >= nu),
        capsys,
        "changed x itself",
    )
    assert_wrong(
        checks.check_mask,
        lambda x, nu: x * (torch.rand_like(x) >= nu / 2),
        capsys,
        "with ν = 1.0, a fraction 0.500 of the entries is 0, expected 1.0",
    )


def test_contractive_penalty(capsys):
    def closed_form(x, W, b):
        h = torch.sigmoid(x @ W.T + b)
        return ((h * (1 - h)) ** 2 @ (W**2).sum(1)).mean()

    def by_autograd(x, W, b):
        jac = torch.func.vmap(
            torch.func.jacrev(lambda xi: torch.sigmoid(W @ xi + b))
        )(x)
        return jac.pow(2).sum((1, 2)).mean()

    assert_right(checks.check_contractive_penalty, closed_form, capsys)
    assert_right(checks.check_contractive_penalty, by_autograd, capsys)
    assert_wrong(
        checks.check_contractive_penalty,
        lambda x, W, b: (
            (
                torch.sigmoid(x @ W.T + b)
                * (1 - torch.sigmoid(x @ W.T + b))
            )
            @ (W**2).sum(1)
        ).mean(),
        capsys,
        "square the sigmoid's slope",
    )
    assert_wrong(
        checks.check_contractive_penalty,
        lambda x, W, b: closed_form(x, W, b) * len(x),
        capsys,
        "you summed over the batch",
    )
    assert_wrong(
        checks.check_contractive_penalty,
        lambda x, W, b: (W**2).sum() / 16,
        capsys,
        "differs from the reference",
    )


def test_mask_checker_leaves_the_global_random_stream_alone(capsys):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_mask(lambda x, nu: x * (torch.rand_like(x) >= nu))
    capsys.readouterr()
    assert torch.equal(torch.rand(3), expected)


def test_denoising_loss(capsys):
    from aecourse.ops.losses import reconstruction_loss

    check = checks.check_denoising_loss

    def right(model, x, corrupt):
        return reconstruction_loss(model(corrupt(x)), x, kind="bce")

    assert_right(check, right, capsys)
    assert_right(
        check,
        lambda m, x, c: (
            F.binary_cross_entropy(m(c(x)), x, reduction="sum") / len(x)
        ),
        capsys,
    )

    def corrupt_twice(
        model, x, corrupt
    ):  # a fresh x̃ for the input is fine
        corrupt(x)
        return right(model, x, corrupt)

    assert_right(check, corrupt_twice, capsys)
    wrong = [
        (
            lambda m, x, c: reconstruction_loss(m(x), x, kind="bce"),
            "you never corrupted the input: that is the plain autoencoder's loss",
        ),
        (
            lambda m, x, c: (
                lambda xt: reconstruction_loss(m(xt), xt, "bce")
            )(c(x)),
            "your target is the corrupted x̃",
        ),
        (
            lambda m, x, c: reconstruction_loss(m(x), c(x), kind="bce"),
            "you corrupted the target instead of the input",
        ),
        (
            lambda m, x, c: reconstruction_loss(
                m(c(x)), c(x), kind="bce"
            ),
            "you corrupted x twice, once for the input and once for the target",
        ),
        (
            lambda m, x, c: reconstruction_loss(m(c(x)), x, kind="mse"),
            "that is the squared error",
        ),
        (
            lambda m, x, c: reconstruction_loss(x, m(c(x)), kind="bce"),
            "the arguments are in the wrong order",
        ),
        (
            lambda m, x, c: F.binary_cross_entropy(m(c(x)), x),
            "you averaged over the entries of each example too",
        ),
        (
            lambda m, x, c: F.binary_cross_entropy(
                m(c(x)), x, reduction="sum"
            ),
            "you summed over the batch",
        ),
        (
            lambda m, x, c: right(m, x, c).item(),
            "return the loss as a 0-dimensional tensor (what .backward() "
            "starts from), got float",
        ),
        (
            lambda m, x, c: right(m, x, c).reshape(1),
            "got shape (1,)",
        ),
        (
            lambda m, x, c: right(m, x, c).detach(),
            "your loss carries no gradient",
        ),
        (
            lambda m, x, c: right(m, x.mul_(0.5), c),
            "your function changed x itself",
        ),
        (
            lambda m, x, c: right(m, x, c) + 0.1,
            "your loss is 8.5251, the reference 8.4251",
        ),
        (
            lambda m, x, c: torch.tensor(1.0, requires_grad=True),
            "call corrupt(x) to get the corrupted input",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


def test_denoising_loss_checker_leaves_the_global_random_stream_alone(
    capsys,
):
    from aecourse.ops.losses import reconstruction_loss

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_denoising_loss(
        lambda m, x, c: reconstruction_loss(m(c(x)), x, kind="bce")
    )
    capsys.readouterr()
    assert torch.equal(torch.rand(3), expected)


# --- stacked pretraining ---------------------------------------------------------------------------------


def greedy(
    net,
    x,
    train_module,
    *,
    flatten=True,
    no_grad=True,
    copy_first=True,
    bias=True,
    activation=True,
    raw_inputs=False,
    touch_output=False,
):
    """The loop of the stacked pretraining chapter's exercise, with switches for the slips to name."""
    flat = x.flatten(1) if flatten else x
    if (
        not copy_first
    ):  # build every training set up front, with the layers still random
        with torch.no_grad():
            sets = [net.features(x, l) for l in range(net.depth)]
    for l, layer in enumerate(net.hidden, start=1):
        if not copy_first:
            h = sets[l - 1]
        elif l == 1 and not flatten:
            h = x
        elif raw_inputs:
            h = flat
        elif no_grad:
            with torch.no_grad():
                h = (
                    net.features(x, l - 1)
                    if activation or l == 1
                    else net.hidden[l - 2](net.features(x, l - 2))
                )
        else:
            h = net.features(x, l - 1)
        trained = train_module(h, layer.out_features)
        with torch.no_grad():
            layer.weight.copy_(trained.weight)
            if bias:
                layer.bias.copy_(trained.bias)
    if touch_output:
        with torch.no_grad():
            net.output.bias.add_(1.0)


def test_greedy_pretraining(capsys):
    check = checks.check_greedy_pretraining
    assert_right(check, greedy, capsys)
    assert_wrong(check, lambda *a: None, capsys, "called 0 times")
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, flatten=False),
        capsys,
        "flattened",
    )
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, no_grad=False),
        capsys,
        "torch.no_grad()",
    )
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, copy_first=False),
        capsys,
        "*before* pretraining",
    )
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, raw_inputs=True),
        capsys,
        "raw inputs",
    )
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, activation=False),
        capsys,
        "misses the activation",
    )
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, bias=False),
        capsys,
        "not its bias",
    )
    assert_wrong(
        check,
        lambda n, x, t: greedy(n, x, t, touch_output=True),
        capsys,
        "output layer changed",
    )
    # Any other wrong training set of the right shape (here h^(1) halved for layer 2) is named, not a crash.
    assert_wrong(
        check,
        lambda n, x, t: greedy(
            n, x, lambda h, k: t(h / 2 if h.shape[1] == 8 else h, k)
        ),
        capsys,
        "layer 2 was not trained on h^(1)(x)",
    )


def output_only(
    net, x, y, epochs, *, params=None, restore=True, step=True
):
    for p in net.hidden.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.SGD(
        params(net) if params else net.output.parameters(), lr=0.5
    )
    for _ in range(epochs):
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
    if restore:
        for p in net.hidden.parameters():
            p.requires_grad_(True)


def test_frozen_training(capsys):
    check = checks.check_frozen_training

    def everything(
        net, x, y, epochs
    ):  # the slip: the optimizer gets every parameter, so all layers train
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
        for _ in range(epochs):
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()

    assert_right(check, output_only, capsys)
    assert_wrong(check, everything, capsys, "the hidden layers changed")
    assert_wrong(
        check,
        lambda n, x, y, e: output_only(n, x, y, e, restore=False),
        capsys,
        "requires_grad=False",
    )
    assert_wrong(
        check,
        lambda n, x, y, e: output_only(n, x, y, e, step=False),
        capsys,
        "did not change",
    )
    assert_wrong(
        check,
        lambda n, x, y, e: output_only(n, x, y, 1),
        capsys,
        "the training loss went from",
    )


def gradient_norms(net, x, y):
    """The solution: one backward pass from fresh gradients."""
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return [
        layer.weight.grad.norm().item()
        for layer in [*net.hidden, net.output]
    ]


def test_layer_gradient_norms(capsys):
    from aecourse.models.pretraining import layer_gradient_norms

    check = checks.check_layer_gradient_norms
    assert_right(check, gradient_norms, capsys)
    assert_right(check, layer_gradient_norms, capsys)

    def by_autograd(net, x, y):  # a 1-D tensor is fine
        weights = [layer.weight for layer in [*net.hidden, net.output]]
        grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
        return torch.stack([g.norm() for g in grads])

    assert_right(check, by_autograd, capsys)
    # a list of 0-dimensional tensors is fine
    assert_right(
        check,
        lambda n, x, y: [
            torch.tensor(v) for v in gradient_norms(n, x, y)
        ],
        capsys,
    )

    def accumulating(net, x, y):  # forgets to zero the gradients
        F.cross_entropy(net(x), y).backward()
        return [
            layer.weight.grad.norm().item()
            for layer in [*net.hidden, net.output]
        ]

    def every_parameter(net, x, y):
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        return [p.grad.norm().item() for p in net.parameters()]

    def summed(net, x, y):
        net.zero_grad()
        F.cross_entropy(net(x), y, reduction="sum").backward()
        return [
            layer.weight.grad.norm().item()
            for layer in [*net.hidden, net.output]
        ]

    def stepping(net, x, y):
        norms = gradient_norms(net, x, y)
        torch.optim.SGD(net.parameters(), lr=0.1).step()
        return norms

    wrong = [
        (
            accumulating,
            "a second call on the same net gave other numbers",
        ),
        (
            every_parameter,
            "leave the biases out; a net with 3 hidden layers has 4 weight "
            "matrices, you returned 8 numbers",
        ),
        (
            lambda n, x, y: gradient_norms(n, x, y)[:-1],
            "you left out the output layer",
        ),
        (
            lambda n, x, y: gradient_norms(n, x, y)[:1],
            "one number per layer; a net with 3 hidden layers has 4 weight "
            "matrices, you returned 1 number.",
        ),
        (
            lambda n, x, y: [
                layer.weight.norm().item()
                for layer in [*n.hidden, n.output]
            ],
            "those are the norms of the weights themselves",
        ),
        (
            lambda n, x, y: gradient_norms(n, x, y)[::-1],
            "hidden layers first",
        ),
        (summed, "you summed the cross-entropy over the batch"),
        (
            lambda n, x, y: [v**2 for v in gradient_norms(n, x, y)],
            "you returned the squared norms",
        ),
        (stepping, "the net's weights changed"),
        (
            lambda n, x, y: [v * 1.1 for v in gradient_norms(n, x, y)],
            "the gradient norms differ from the reference",
        ),
        (
            lambda n, x, y: torch.tensor(gradient_norms(n, x, y))[None],
            "return a list of 4 numbers (or a 1-D tensor), got a tensor of "
            "shape (1, 4)",
        ),
        (lambda n, x, y: ["a"] * 4, "got list"),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


# --- sequence to sequence (the other checkers' tests are in test_seq2seq.py) ------------------------------


def attend(scores, mask, outputs):
    """The solution: −∞ on the padding, a softmax over the source positions, a weighted sum."""
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
    return (weights[..., None] * outputs).sum(1), weights


def test_attention(capsys):
    check = checks.check_attention
    assert_right(check, attend, capsys)

    def by_bmm(
        scores, mask, outputs
    ):  # a large negative score is fine too
        weights = scores.masked_fill(~mask, -1e9).softmax(1)
        return torch.bmm(weights[:, None], outputs).squeeze(1), weights

    assert_right(check, by_bmm, capsys)
    # a list is fine, and float32
    assert_right(
        check,
        lambda s, m, o: [t.float() for t in attend(s, m, o)],
        capsys,
    )

    def with_weights(weights_of):
        def fn(scores, mask, outputs):
            weights = weights_of(scores, mask)
            return (weights[..., None] * outputs).sum(1), weights

        return fn

    wrong = [
        (
            with_weights(lambda s, m: s.masked_fill(~m, 0).softmax(1)),
            "a padded score of 0 still gets a weight",
        ),
        (
            with_weights(lambda s, m: s.softmax(1)),
            "the padding got weight",
        ),
        (
            with_weights(lambda s, m: s.softmax(1) * m),
            "you zeroed the padding after the softmax",
        ),
        (
            with_weights(
                lambda s, m: s.masked_fill(~m, float("-inf")).softmax(0)
            ),
            "your softmax runs over the batch (dim=0)",
        ),
        (
            with_weights(
                lambda s, m: s.masked_fill(m, float("-inf")).softmax(1)
            ),
            "the mask is True at the real tokens",
        ),
        (
            with_weights(
                lambda s, m: (
                    (s / 2).masked_fill(~m, float("-inf")).softmax(1)
                )
            ),
            "the weights differ from the reference by up to",
        ),
        (
            lambda s, m, o: (o.mean(1), attend(s, m, o)[1]),
            "the context is the weighted sum Σ_j α_j h_j, not the plain mean",
        ),
        (
            lambda s, m, o: (
                (o * m[..., None]).sum(1) / m.sum(1, keepdim=True),
                attend(s, m, o)[1],
            ),
            "not the plain mean",
        ),
        (
            lambda s, m, o: (o.sum(1), attend(s, m, o)[1]),
            "the context differs from the reference by up to",
        ),
        (
            lambda s, m, o: (
                (attend(s, m, o)[1][..., None] * o).sum(2),
                attend(s, m, o)[1],
            ),
            "the context has shape (4, 6), expected (N, H) = (4, 5)",
        ),
        (
            lambda s, m, o: attend(s, m, o)[::-1],
            "return (context, weights) in that order",
        ),
        (
            lambda s, m, o: attend(s, m, o)[1],
            "return the pair (context, weights), two tensors; got one tensor "
            "of shape (4, 6)",
        ),
        (
            lambda s, m, o: (*attend(s, m, o), None),
            "got 3 items",
        ),
        (
            lambda s, m, o: (
                attend(s, m, o)[0],
                attend(s, m, o)[1][:, :5],
            ),
            "the weights have shape (4, 5), expected (N, S) = (4, 6)",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


# --- variational autoencoders ----------------------------------------------------------------------------


def reparameterize_by_hand(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def test_reparameterize(capsys):
    from torch.distributions import Normal

    from aecourse.models.vae import reparameterize

    def sigma(logvar):
        return torch.exp(0.5 * logvar)

    assert_right(
        checks.check_reparameterize, reparameterize_by_hand, capsys
    )
    assert_right(checks.check_reparameterize, reparameterize, capsys)
    assert_right(
        checks.check_reparameterize,
        lambda mu, lv: Normal(mu, sigma(lv)).rsample(),
        capsys,
    )
    assert_right(
        checks.check_reparameterize,
        lambda mu, lv: mu - lv.exp().sqrt() * torch.randn(mu.shape),
        capsys,
    )
    wrong = [  # (the student's z, what the verdict must say)
        (
            lambda mu, lv: mu + lv.exp() * torch.randn_like(mu),
            "you scaled ε by σ² = exp(log σ²)",
        ),
        (
            lambda mu, lv: mu + lv * torch.randn_like(mu),
            "you scaled ε by log σ² itself",
        ),
        (
            lambda mu, lv: mu + 0.5 * lv * torch.randn_like(mu),
            "you scaled ε by ½ log σ²: take the exp",
        ),
        (
            lambda mu, lv: mu + lv.sqrt() * torch.randn_like(mu),
            "z has NaN or inf",
        ),
        (
            lambda mu, lv: (
                mu + torch.exp(-0.5 * lv) * torch.randn_like(mu)
            ),
            "the sign in the exponent is flipped",
        ),
        (
            lambda mu, lv: sigma(lv) * torch.randn_like(mu),
            "z is missing the mean",
        ),
        (
            lambda mu, lv: -mu + sigma(lv) * torch.randn_like(mu),
            "μ has the wrong sign",
        ),
        (lambda mu, lv: mu, "z equals μ: add the noise"),
        (
            lambda mu, lv: mu + sigma(lv) * torch.rand_like(mu),
            "ε looks uniform",
        ),
        (
            lambda mu, lv: mu + sigma(lv) * torch.randn_like(mu[:1]),
            "every example got the same ε",
        ),
        (
            lambda mu, lv: mu + sigma(lv) * torch.randn(len(mu), 1),
            "every code unit got the same ε",
        ),
        (
            lambda mu, lv: (
                mu
                + sigma(lv)
                * torch.randn(
                    mu.shape, generator=torch.Generator().manual_seed(0)
                )
            ),
            "two calls gave the same z",
        ),
        (
            lambda mu, lv: Normal(mu, sigma(lv)).sample(),
            "gradients do not flow",
        ),
        # differentiable, but gradient 0
        (
            lambda mu, lv: torch.normal(mu, sigma(lv)),
            "gradients do not flow",
        ),
        (
            lambda mu, lv: reparameterize_by_hand(mu, lv).detach(),
            "gradients do not flow",
        ),
        (
            lambda mu, lv: mu + 2 * sigma(lv) * torch.randn_like(mu),
            "should be standard normal, but its columns",
        ),
        (
            lambda mu, lv: reparameterize_by_hand(mu, lv)[:5],
            "return a tensor z of mu's shape (4000, 4), got (5, 4)",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(checks.check_reparameterize, fn, capsys, reason)


def test_reparameterize_checker_leaves_the_global_random_stream_alone(
    capsys,
):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_reparameterize(reparameterize_by_hand)
    capsys.readouterr()
    assert torch.equal(torch.rand(3), expected)


def test_gaussian_kl(capsys):
    from torch.distributions import Normal, kl_divergence

    def kl(mu, lv):
        return 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(1)

    assert_right(checks.check_gaussian_kl, kl, capsys)
    assert_right(
        checks.check_gaussian_kl,
        lambda mu, lv: (
            -0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp(), dim=1)
        ),
        capsys,
    )
    assert_right(
        checks.check_gaussian_kl,
        lambda mu, lv: (
            kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(0.0, 1.0))
            .sum(1)
            .float()
        ),
        capsys,
    )
    wrong = [
        (lambda mu, lv: 2 * kl(mu, lv), "you forgot the ½"),
        (
            lambda mu, lv: kl(mu, lv).sum(),
            "you summed over the batch: return one KL per example, shape (N,)",
        ),
        (lambda mu, lv: kl(mu, lv).mean(), "you averaged over the batch"),
        (
            lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv),
            "sum over the 5 code units of each example",
        ),
        (
            lambda mu, lv: kl(mu, lv) / 5,
            "sum over the code units of each example, do not average them",
        ),
        (lambda mu, lv: -kl(mu, lv), "the sign is flipped"),
        (
            lambda mu, lv: (
                0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(1)
            ),
            "you used σ = exp(½ log σ²) in its place",
        ),
        (
            lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - 0.5 * lv).sum(1),
            "not ½ log σ²",
        ),
        (
            lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 + lv).sum(1),
            "enters with a minus sign",
        ),
        (
            lambda mu, lv: 0.5 * (mu**2 + lv.exp() + 1 - lv).sum(1),
            "it is − 1 inside the sum",
        ),
        (
            lambda mu, lv: 0.5 * (mu**2 + lv - 1 - lv.log()).sum(1),
            "the KL has NaN or inf",
        ),
        (
            lambda mu, lv: 0.5 * (mu**2 + lv - 1 - lv).sum(1),
            "the variance is σ² = exp(log σ²)",
        ),
        (
            lambda mu, lv: 0.5 * (mu + lv.exp() - 1 - lv).sum(1),
            "μ enters squared",
        ),
        (
            lambda mu, lv: kl(mu, lv) + 0.1,
            "the KL per example differs from the reference by up to 0.1",
        ),
        (
            lambda mu, lv: kl(mu, lv).tolist(),
            "should be a torch.Tensor, got list",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(checks.check_gaussian_kl, fn, capsys, reason)


def test_iwae_estimate(capsys):
    from aecourse.models.vae import log_mean_exp

    def max_trick(log_w):
        m = log_w.max(0).values
        return m + torch.log(torch.exp(log_w - m).mean(0))

    assert_right(checks.check_iwae_estimate, max_trick, capsys)
    assert_right(
        checks.check_iwae_estimate, lambda lw: log_mean_exp(lw, 0), capsys
    )
    for fn, reason in [
        (lambda lw: lw.mean(0), "mean of log w is the ELBO"),
        (lambda lw: torch.logsumexp(lw, 0), "subtract log k"),
        (
            lambda lw: torch.log(torch.exp(lw).mean(0)),
            "underflows to 0",
        ),
        (
            lambda lw: log_mean_exp(lw, 1),
            "average over the k samples (dim 0)",
        ),
        (
            lambda lw: torch.log(
                torch.exp(lw - lw.max(0).values).mean(0)
            ),
            "did not add it back",
        ),
        (lambda lw: lw.max(0).values, "the largest log weight alone"),
        (lambda lw: max_trick(lw) + 1, "differs from the reference"),
    ]:
        assert_wrong(checks.check_iwae_estimate, fn, capsys, reason)


def test_active_units(capsys):
    from aecourse.models.vae import active_units

    assert_right(checks.check_active_units, active_units, capsys)
    assert_right(
        checks.check_active_units, lambda mu: mu.var(0) > 0.01, capsys
    )
    for fn, reason in [
        (lambda mu: mu.std(0) > 0.01, "standard deviation"),
        (lambda mu: mu.mean(0).abs() > 0.01, "the mean of μ_j"),
        (lambda mu: mu.var(0) < 0.01, "flipped"),
        (lambda mu: mu.var(1) > 0.01, "one per image"),
        (lambda mu: (mu.var(0) > 0.01).sum(), "the count is right"),
        (lambda mu: (mu.var(0) > 0.01).float(), "bool tensor"),
        (
            lambda mu: mu.var(0) > 0.001,
            "expected [True, True, True, False",
        ),
    ]:
        assert_wrong(checks.check_active_units, fn, capsys, reason)


# --- applications ----------------------------------------------------------------------------------------


def pair_differences(scores, is_anomaly):
    """(N_anom, N_normal): each anomaly's score minus each normal example's."""
    return scores[is_anomaly][:, None] - scores[~is_anomaly][None]


def auroc_by_pairs(scores, is_anomaly):
    d = pair_differences(scores, is_anomaly)
    return ((d > 0).double() + 0.5 * (d == 0).double()).mean()


def test_auroc(capsys):
    import numpy as np
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    def by_ranks(scores, is_anomaly):  # Mann–Whitney U from average ranks
        ranks = rankdata(scores.numpy())  # ties share their average rank
        n_anom = int(is_anomaly.sum())
        u = ranks[is_anomaly.numpy()].sum() - n_anom * (n_anom + 1) / 2
        return u / (n_anom * (len(scores) - n_anom))

    check = checks.check_auroc
    assert_right(check, auroc_by_pairs, capsys)  # a 0-dim tensor
    # a numpy float
    assert_right(
        check, lambda s, a: roc_auc_score(a.numpy(), s.numpy()), capsys
    )
    # a python float
    assert_right(check, lambda s, a: float(roc_auc_score(a, s)), capsys)
    assert_right(check, lambda s, a: np.float32(by_ranks(s, a)), capsys)
    # a 0-dim numpy array
    assert_right(check, lambda s, a: np.array(by_ranks(s, a)), capsys)

    def count(
        scores, is_anomaly
    ):  # pairs where the anomaly wins, ties counting ½
        d = pair_differences(scores, is_anomaly)
        return ((d > 0).sum() + 0.5 * (d == 0).sum()).item()

    wrong = [
        (
            lambda s, a: (pair_differences(s, a) > 0).double().mean(),
            "you counted ties as 0: count a tie",
        ),
        (
            lambda s, a: (pair_differences(s, a) >= 0).double().mean(),
            "you counted ties as 1: count a tie as one half",
        ),
        (
            lambda s, a: 1 - auroc_by_pairs(s, a),
            "the scores are reversed: higher must mean more anomalous",
        ),
        (lambda s, a: auroc_by_pairs(s, ~a), "the scores are reversed"),
        (lambda s, a: roc_auc_score(a, -s), "the scores are reversed"),
        (
            lambda s, a: count(s, a) / len(s) ** 2,
            "you divided by N², the number of all pairs of examples",
        ),
        (
            lambda s, a: count(s, a) / int(a.sum()) ** 2,
            "you divided by N_anom²: divide by the number of (anomaly, "
            "normal) pairs, N_anom · N_normal = 336",
        ),
        (
            lambda s, a: count(s, a) / int((~a).sum()) ** 2,
            "you divided by N_normal²",
        ),
        (lambda s, a: count(s, a), "you divided by nothing"),
        (
            lambda s, a: 100 * auroc_by_pairs(s, a),
            "you returned 84.52: AUROC is a probability, between 0 and 1",
        ),
        (
            lambda s, a: auroc_by_pairs(s, a) - 0.01,
            "your AUROC is 0.8352, the reference 0.8452",
        ),
        (
            lambda s, a: auroc_by_pairs(s, a).reshape(1),
            "return one number (a float or a 0-dimensional tensor), "
            "got a tensor of shape (1,)",
        ),
        (lambda s, a: [auroc_by_pairs(s, a).item()], "got list"),
        (lambda s, a: True, "got bool"),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


def test_hamming_distances(capsys):
    check = checks.check_hamming_distances

    def by_broadcasting(a, b):
        return (a[:, None] != b[None]).sum(-1)

    def by_matmul(a, b):  # bits 1 in a and 0 in b, plus 0 in a and 1 in b
        a, b = a.float(), b.float()
        return a @ (1 - b).T + (1 - a) @ b.T

    assert_right(check, by_broadcasting, capsys)
    assert_right(check, by_matmul, capsys)  # float distances are fine
    assert_right(
        check,
        lambda a, b: torch.cdist(a.double(), b.double(), p=0),
        capsys,
    )
    assert_right(
        check,
        lambda a, b: (a[:, None] - b[None]).abs().sum(-1).int(),
        capsys,
    )
    wrong = [
        (
            lambda a, b: by_broadcasting(b, a),
            "you returned the transpose, shape (7, 5): rows are queries a, columns b",
        ),
        (
            lambda a, b: (a[:, None] != b[None]).float().mean(-1),
            "the fraction of bits that differ",
        ),
        (
            lambda a, b: (a[:, None] == b[None]).sum(-1),
            "you counted the bits that agree",
        ),
        (
            lambda a, b: torch.cdist(a.float(), b.float()),
            "that is the Euclidean distance",
        ),
        (
            lambda a, b: a.float() @ b.float().T,
            "a @ b.T counts the bits that are 1 in both codes",
        ),
        (
            lambda a, b: by_broadcasting(a, b)[:, :3],
            "the distances have shape (5, 3), expected (5, 7) = (Q, N)",
        ),
        (
            lambda a, b: by_broadcasting(a, b).sum(),
            "have shape (), expected (5, 7)",
        ),
        (
            lambda a, b: (
                by_broadcasting(a, b)
                + torch.eye(
                    *by_broadcasting(a, b).shape, dtype=torch.long
                )
            ),
            "entry [0, 0] is 5, but a[0] and b[0] differ in 4 bits",
        ),
        (
            lambda a, b: (
                by_broadcasting(a, b)
                if a.dtype == torch.float32
                else by_broadcasting(a, b).float() / 16
            ),
            "for a (4, 16) and b (9, 16) of int64 bits, you returned the fraction",
        ),
        (
            lambda a, b: by_broadcasting(a, b).tolist(),
            "return a tensor, got list",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


def test_multinomial_loss(capsys):
    check = checks.check_multinomial_loss

    def by_hand(logits, p):
        return -(p * F.log_softmax(logits, dim=-1)).sum(-1).mean()

    assert_right(
        check, lambda logits, p: F.cross_entropy(logits, p), capsys
    )
    assert_right(check, by_hand, capsys)
    # float32 is fine
    assert_right(
        check,
        lambda logits, p: by_hand(logits.float(), p.float()),
        capsys,
    )
    assert_right(
        check,
        lambda logits, p: (
            -(p * (logits - logits.logsumexp(1, keepdim=True))).sum()
            / len(p)
        ),
        capsys,
    )
    wrong = [
        (
            lambda logits, p: F.cross_entropy(logits, p, reduction="sum"),
            "you summed over the batch: average over the 6",
        ),
        (
            lambda logits, p: -(p * F.log_softmax(logits, 1)).mean(),
            "you averaged over the 13 words too",
        ),
        (
            lambda logits, p: -(p * logits).sum(1).mean(),
            "you forgot the softmax",
        ),
        (
            lambda logits, p: -(p * F.softmax(logits, 1)).sum(1).mean(),
            "you forgot the log",
        ),
        (
            lambda logits, p: (
                -(p * F.log_softmax(logits, 0)).sum(1).mean()
            ),
            "your softmax runs over the batch (dim=0)",
        ),
        (
            lambda logits, p: (
                (p * F.log_softmax(logits, 1)).sum(1).mean()
            ),
            "the sign is flipped",
        ),
        (
            lambda logits, p: F.cross_entropy(
                logits, p, reduction="none"
            ),
            "you returned one loss per document",
        ),
        (
            lambda logits, p: by_hand(logits, p).reshape(1),
            "0-dimensional tensor (it is what .backward() starts "
            "from), got shape (1,)",
        ),
        (lambda logits, p: by_hand(logits, p).item(), "got float"),
        (lambda logits, p: by_hand(logits, p) + 0.1, "the reference"),
        # hard targets
        (
            lambda logits, p: F.cross_entropy(logits, p.argmax(1)),
            "the reference",
        ),
    ]
    for fn, reason in wrong:
        assert_wrong(check, fn, capsys, reason)


# --- the package's layout --------------------------------------------------------------------------------

# Every checker of the single-module aecourse/checks.py that the package replaced: notebooks call them all
# as checks.check_...(...).
ORIGINAL_CHECKERS = [
    "check_bernoulli_loss",
    "check_pca_reconstruction",
    "check_binary_code",
    "check_min_code_bits",
    "check_conv_transpose2d",
    "check_max_unpool2d",
    "check_transposed_output_size",
    "check_mask",
    "check_contractive_penalty",
    "check_greedy_pretraining",
    "check_frozen_training",
    "check_reparameterize",
    "check_gaussian_kl",
    "check_masked_loss",
    "check_greedy_decode",
    "check_auroc",
    "check_hamming_distances",
    "check_multinomial_loss",
]
# A chapter's checkers live in the module named as its notebook.
CHAPTER_MODULES = sorted(
    {m.name for m in pkgutil.iter_modules(checks.__path__)} - {"_verdict"}
)


@pytest.mark.parametrize("name", ORIGINAL_CHECKERS)
def test_every_original_checker_is_importable_from_the_package(name):
    assert callable(getattr(checks, name, None)), (
        f"aecourse.checks.{name} is gone"
    )
    assert name in checks.__all__
    assert getattr(checks, name).__module__ in {
        f"aecourse.checks.{m}" for m in CHAPTER_MODULES
    }


def test_the_package_has_one_module_per_chapter_and_a_private_one():
    root = Path(__file__).resolve().parent.parent
    chapters = {p.stem for p in (root / "chapters").glob("*.ipynb")}
    assert len(chapters) >= 8 and set(CHAPTER_MODULES) == chapters
    private = {
        m.name for m in pkgutil.iter_modules(checks.__path__)
    } - chapters
    assert private == {"_verdict"}


def test_every_check_function_of_a_chapter_module_is_gathered():
    for name in CHAPTER_MODULES:
        module = importlib.import_module(f"aecourse.checks.{name}")
        own = [
            n
            for n, v in vars(module).items()
            if n.startswith("check_") and v.__module__ == module.__name__
        ]
        assert own and all(
            getattr(checks, n) is getattr(module, n) for n in own
        ), name
    assert (
        len(checks.__all__)
        == len(set(checks.__all__))
        >= len(ORIGINAL_CHECKERS)
    )


@pytest.mark.parametrize("name", CHAPTER_MODULES)
def test_chapter_modules_name_their_chapter_by_topic_not_by_number(name):
    module = importlib.import_module(f"aecourse.checks.{name}")
    assert module.__doc__ and module.__doc__.strip(), (
        f"aecourse.checks.{name} has no docstring"
    )
    assert "chapter" in module.__doc__, (
        f"aecourse.checks.{name}: say which chapter it serves, by topic"
    )
    assert not re.search(r"[Cc]hapter \d", module.__doc__), module.__doc__


# --- exercise labels: each checker names the exercise it checks ------------------------------------


def checker_placement(nb, chapter: str) -> list[str]:
    """What is wrong with where a chapter calls its checkers: each call must come after the statement
    of the exercise its checker declares and before the next exercise, and every checker that the
    chapter's module declares must be called."""
    from aecourse.grade import EXERCISE_LABEL

    found, current, called = [], None, set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            labels = EXERCISE_LABEL.findall(cell.source)
            current = labels[-1] if labels else current
            continue
        for name in re.findall(r"checks\.(check_\w+)\(", cell.source):
            label = getattr(getattr(checks, name, None), "label", None)
            called.add(label)
            if label != current:
                found.append(
                    f"cell {i + 1} calls checks.{name} (exercise {label}) inside exercise {current}"
                )
    for label, checker in checks.labels().items():
        if (
            checker.__module__ == f"aecourse.checks.{chapter}"
            and label not in called
        ):
            found.append(f"no cell calls {checker.__name__} ({label})")
    return found


def test_every_checker_declares_an_exercise_label():
    unlabelled = [
        name
        for name in checks.__all__
        if not getattr(getattr(checks, name), "label", "")
    ]
    assert not unlabelled, f"give these an @exercise label: {unlabelled}"
    assert sorted(checks.labels()) == sorted(
        getattr(checks, name).label for name in checks.__all__
    )


def test_every_declared_label_is_an_exercise_of_its_chapter_checked_in_place():
    import nbformat

    from aecourse.grade import exercise_labels

    root = Path(__file__).resolve().parent.parent / "chapters"
    problems = {path.stem: [] for path in root.glob("*.ipynb")}
    for label, checker in checks.labels().items():
        chapter = checker.__module__.rpartition(".")[2]
        nb = nbformat.read(root / f"{chapter}.ipynb", as_version=4)
        if label not in exercise_labels(nb):
            problems[chapter].append(
                f"{label} ({checker.__name__}) is no {{exercise}} of {chapter}"
            )
    for path in sorted(root.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        problems[path.stem] += [
            f"{path.name}: {p}" for p in checker_placement(nb, path.stem)
        ]
    assert_problems_known(problems)


def test_the_placement_check_can_fail():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    def box(label):
        return new_markdown_cell(
            f"```{{exercise}} A title\n:label: {label}\n\nText.\n```"
        )

    nb = new_notebook(
        cells=[
            box("ex-binary-code"),
            new_code_cell("def binary_code(c): ..."),
            box("ex-min-code-bits"),
            new_code_cell("assert checks.check_binary_code(binary_code)"),
        ]
    )
    assert checker_placement(nb, "number_system") == [
        "cell 4 calls checks.check_binary_code (exercise ex-binary-code) inside exercise ex-min-code-bits",
        "no cell calls check_min_code_bits (ex-min-code-bits)",
        "no cell calls check_same_up_to_symmetry (ex-number-system-symmetry)",
    ]


# --- every exercise: checked in the book's shape, or a marked open question ------------------------------

# The first words of an open question's {exercise} box, the line that says so on the page (and in the
# student copy): an exercise without a checker must start with them, one with a checker must not.
OPEN_QUESTION = "**Open question**"
MIN_CHECKED = (
    3  # checked exercises per chapter; open questions do not count
)
# Chapters known to fail the exercise tests, with the reason. A chapter listed here must still fail
# (a test says so once it passes, so that it leaves the set); every other chapter must pass.
KNOWN_FAILURES: set[str] = set()


def assert_problems_known(problems: dict[str, list[str]]) -> None:
    """problems: chapter -> what is wrong with it. Only the chapters of KNOWN_FAILURES may have any,
    and each of them must (else it is fixed and must leave the set)."""
    unknown = [
        p
        for chapter, found in sorted(problems.items())
        if chapter not in KNOWN_FAILURES
        for p in found
    ]
    assert not unknown, "\n".join(unknown)
    fixed = [
        c for c in KNOWN_FAILURES if c in problems and not problems[c]
    ]
    assert not fixed, (
        f"{fixed} pass now: remove them from KNOWN_FAILURES in tests/test_checks.py"
    )


def _box_starts_with(source: str, match: re.Match, words: str) -> bool:
    """Whether the text of the {exercise} box that match (EXERCISE_LABEL) found starts with words."""
    rest = source[match.end() :].split("\n")[1:]  # after the :label: line
    for line in rest:
        if line.strip() and not re.match(r"[ \t]*:[\w-]+:", line):
            return line.lstrip().startswith(words)
    return False


def _events(nb) -> list[tuple]:
    """A chapter as the events an exercise is made of, in order, each with its cell's index:
    ("exercise", i, label, marked open), ("start", i, label), ("end", i), ("box", i, label) for a
    {solution} box, and ("code", i, cell) for a code cell."""
    from aecourse.book.student import SOLUTION_FENCE
    from aecourse.grade import EXERCISE_LABEL

    events = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            events.append(("code", i, cell))
            continue
        if cell.cell_type != "markdown":
            continue
        found = [
            (
                m.start(),
                (
                    "exercise",
                    i,
                    m[1],
                    _box_starts_with(cell.source, m, OPEN_QUESTION),
                ),
            )
            for m in EXERCISE_LABEL.finditer(cell.source)
        ]
        offset = 0
        for line in cell.source.split("\n"):
            fence = SOLUTION_FENCE.match(line)
            if fence:
                kind = {
                    "solution-start": "start",
                    "solution-end": "end",
                }.get(fence["kind"], "box")
                event = (
                    (kind, i)
                    if kind == "end"
                    else (kind, i, fence["label"])
                )
                found.append((offset, event))
            offset += len(line) + 1
        events += [
            event for _, event in sorted(found, key=lambda f: f[0])
        ]
    return events


def _defined(source: str) -> set[str]:
    import ast

    return {
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
    }


def _rejects_the_stub(checker, stub_source: str, name: str) -> str | None:
    """None if the checker says "Not yet" to the stub as the chapter writes it, else what it said."""
    import contextlib
    import io

    namespace: dict = {}
    exec(stub_source, namespace)  # a def that raises NotImplementedError
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        passed = checker(namespace[name])
    said = out.getvalue().strip()
    stub_message = (
        "❌ Not yet: the function still raises NotImplementedError"
    )
    return (
        None
        if passed is False and said.startswith(stub_message)
        else said
    )


def _checked_problems(
    label: str, rest: list[tuple], where: str
) -> list[str]:
    """What is wrong with the cells after the box of a checked exercise (rest: the events up to the
    next exercise): stub, solution region, checker call, in this order, and the stub rejected."""
    from aecourse.book.student import SOLUTION_TAG

    checker = checks.labels()[label]
    order = iter(rest)
    stub = next((e for e in order if e[0] == "code"), None)
    names = _defined(stub[2].source) if stub else set()
    if (
        not stub
        or "raise NotImplementedError" not in stub[2].source
        or len(names) != 1
    ):
        return [
            f"{where}: the first code cell after the box must be the stub, one def that "
            "raises NotImplementedError"
        ]
    (name,) = names
    start = next(order, None)
    if not start or start[:1] + start[2:] != ("start", label):
        return [
            f"{where}: the stub must be followed by {{solution-start}} {label}, found {start}"
        ]
    problems, inside = [], []
    end = next(order, None)
    while end and end[0] == "code":
        inside.append(end[2])
        end = next(order, None)
    if not any(
        SOLUTION_TAG in c.metadata.get("tags", [])
        and name in _defined(c.source)
        for c in inside
    ):
        problems.append(
            f"{where}: its solution region needs a code cell tagged {SOLUTION_TAG!r} that "
            f"defines {name}"
        )
    if not end or end[0] != "end":
        return [
            *problems,
            f"{where}: the solution region must close with {{solution-end}}",
        ]
    call = f"assert checks.{checker.__name__}({name})"
    if not any(e[0] == "code" and call in e[2].source for e in order):
        problems.append(
            f"{where}: no cell after {{solution-end}} runs `{call}`"
        )
    said = _rejects_the_stub(checker, stub[2].source, name)
    if said is not None:
        problems.append(
            f"{where}: the checker does not reject the stub, it said {said!r}"
        )
    return problems


def exercise_problems(nb) -> tuple[list[str], int]:
    """(what is wrong with the chapter's exercises, how many are checked).

    Each {exercise} is either an open question, marked by its first words (OPEN_QUESTION) and followed
    by its model answer (a {solution} box or a solution region with its label), or a checked exercise:
    a checker declares its label, and after the box come, in this order, a stub cell (one def that
    raises NotImplementedError), the exercise's {solution-start}, a code cell tagged solution that
    defines the stub's function again, {solution-end}, and a cell that asserts the checker on that
    function; and the checker says "Not yet" to the stub as the chapter writes it.
    """
    checkers = checks.labels()
    events = _events(nb)
    starts = [k for k, e in enumerate(events) if e[0] == "exercise"]
    problems, checked = [], 0
    for k, end in zip(starts, [*starts[1:], len(events)]):
        _, i, label, marked_open = events[k]
        rest = events[k + 1 : end]
        where = f"{label} (cell {i})"
        if label in checkers:
            checked += 1
            if marked_open:
                problems.append(
                    f"{where} is checked by {checkers[label].__name__} but marked as an open "
                    "question"
                )
            problems += _checked_problems(label, rest, where)
            continue
        if not marked_open:
            problems.append(
                f"{where} has no checker: mark it as an open question (its box starts "
                f"with {OPEN_QUESTION}) or declare a checker with its label"
            )
        if not any(
            e[0] in ("start", "box") and e[2] == label for e in rest
        ):
            problems.append(
                f"{where}, an open question, has no model answer: a {{solution}} box or a "
                "{solution-start} region with its label"
            )
    return problems, checked


def test_every_exercise_is_checked_in_the_books_shape_or_a_marked_open_question():
    import nbformat

    root = Path(__file__).resolve().parent.parent / "chapters"
    problems = {}
    for path in sorted(root.glob("*.ipynb")):
        found, checked = exercise_problems(
            nbformat.read(path, as_version=4)
        )
        if checked < MIN_CHECKED:
            found.append(
                f"{checked} checked exercises, fewer than {MIN_CHECKED} (open questions do not count)"
            )
        problems[path.stem] = [f"{path.name}: {p}" for p in found]
    assert set(KNOWN_FAILURES) <= set(problems), (
        "KNOWN_FAILURES names no chapter"
    )
    assert_problems_known(problems)


def test_the_exercise_shape_check_can_fail(monkeypatch):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    def box(label, first="Write it."):
        return new_markdown_cell(
            f"```{{exercise}} A title\n:label: {label}\n\n{first}\n```"
        )

    def cells(label, stub, solution, call, tags=("solution",)):
        return [
            box(label),
            new_code_cell(stub),
            new_markdown_cell(
                f"```{{solution-start}} {label}\n:class: dropdown\n```"
            ),
            new_code_cell(solution, metadata={"tags": list(tags)}),
            new_markdown_cell("Why.\n\n```{solution-end}\n```"),
            new_code_cell(call),
        ]

    stub = "def min_code_bits(n):\n    raise NotImplementedError"
    solution = "def min_code_bits(n):\n    return (n - 1).bit_length()"
    call = "assert checks.check_min_code_bits(min_code_bits)"
    good = cells("ex-min-code-bits", stub, solution, call)
    open_question = [
        box(
            "ex-softmax-decoder",
            f"{OPEN_QUESTION}: no checker grades it.",
        ),
        new_markdown_cell(
            "```{solution} ex-softmax-decoder\n:class: dropdown\n\nIt is.\n```"
        ),
    ]
    assert exercise_problems(
        new_notebook(cells=good + open_question)
    ) == ([], 1)
    bad = new_notebook(
        cells=[
            # no stub: the solution region comes first
            *cells(
                "ex-binary-code",
                solution,
                solution,
                "assert checks.check_binary_code(binary_code)",
            )[:1],
            new_markdown_cell("```{solution-start} ex-binary-code\n```"),
            new_markdown_cell("```{solution-end}\n```"),
            # untagged solution, the checker not called; a stub the checker accepts
            *cells(
                "ex-min-code-bits",
                solution.replace(
                    "return", "raise NotImplementedError\n    return"
                ),
                solution,
                "print(1)",
                tags=(),
            ),
            # an open question without its mark, and without a model answer
            box("ex-softmax-decoder"),
            # an open question's mark on a checked exercise
            box("ex-mask", f"{OPEN_QUESTION}: no checker grades it."),
        ]
    )
    found, checked = exercise_problems(bad)
    assert checked == 3
    expected = [
        "ex-binary-code (cell 0): the first code cell after the box must be the stub",
        "ex-min-code-bits (cell 3): its solution region needs a code cell tagged 'solution' that defines min_code_bits",
        "ex-min-code-bits (cell 3): no cell after {solution-end} runs `assert checks.check_min_code_bits(min_code_bits)`",
        "ex-softmax-decoder (cell 9) has no checker: mark it as an open question",
        "ex-softmax-decoder (cell 9), an open question, has no model answer",
        "ex-mask (cell 10) is checked by check_mask but marked as an open question",
        "ex-mask (cell 10): the first code cell after the box must be the stub",
    ]
    assert len(found) == len(expected), found
    for problem, start in zip(found, expected):
        assert problem.startswith(start), (problem, start)
    # a stub that the checker accepts is named
    lenient = cells(
        "ex-min-code-bits",
        stub.replace(
            "raise NotImplementedError", "return (n - 1).bit_length()"
        )
        + "\n    raise NotImplementedError",
        solution,
        call,
    )
    (problem,), _ = exercise_problems(new_notebook(cells=lenient))
    assert (
        "the checker does not reject the stub, it said '✅ Correct"
        in problem
    )
    # a known failure that passes now must leave the set
    monkeypatch.setitem(
        globals(), "KNOWN_FAILURES", {"stacked_pretraining"}
    )
    with pytest.raises(AssertionError, match="pass now: remove them"):
        assert_problems_known(
            {"stacked_pretraining": [], "structure": []}
        )
    with pytest.raises(AssertionError, match="structure.ipynb: wrong"):
        assert_problems_known({"structure": ["structure.ipynb: wrong"]})
