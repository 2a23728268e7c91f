"""Checkers of the structure chapter's exercises: the Bernoulli reconstruction loss, PCA's reconstruction,
principal angles."""

from __future__ import annotations

from collections.abc import Callable

import torch

from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
    _verdict,
    exercise,
)
from aecourse.ops.losses import reconstruction_loss


@exercise("ex-bernoulli-loss")
def check_bernoulli_loss(fn: Callable) -> bool:
    """fn(x_hat, x) -> scalar: Σ_j Bernoulli cross-entropy per example, averaged over the batch."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 28, 28, generator=g)
    x_hat = torch.rand(16, 1, 28, 28, generator=g).clamp(0.01, 0.99)
    answer, problem = _call(fn, x_hat, x)
    if problem:
        return _verdict(False, problem)
    expected = reconstruction_loss(x_hat, x, kind="bce")
    if isinstance(answer, torch.Tensor) and answer.dim() == 0:
        per_pixel = expected / x[0].numel()
        if torch.isclose(answer, per_pixel, rtol=1e-4):
            return _verdict(
                False,
                "you averaged over pixels too; sum over the pixels of each image, "
                "average over images.",
            )
    return _close(answer, expected, "the loss")


@exercise("ex-pca-reconstruction")
def check_pca_reconstruction(fn: Callable) -> bool:
    """fn(x, mean, components) -> x̂ = mean + (x − mean) Vᵀ V.

    For x (N, d), mean (d,) and components V (k, d) with orthonormal rows (scikit-learn's
    ``components_``): the code (x − mean) Vᵀ is (N, k), i.e. z = V(x − μ) for one column vector, so
    PCA is the linear autoencoder with W_e = V (k × d) and W_d = Vᵀ (d × k).
    """
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 12, generator=g, dtype=torch.float64)
    v, _ = torch.linalg.qr(
        torch.randn(12, 3, generator=g, dtype=torch.float64)
    )
    # (3, 12), orthonormal rows like sklearn's components_
    components = v.T.contiguous()
    mean = x.mean(0)
    answer, problem = _call(fn, x, mean, components)
    expected = mean + (x - mean) @ components.T @ components
    if problem or not (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
        and torch.allclose(answer.double(), expected, atol=1e-6)
    ):
        # right for V laid out (d, k), one direction per column: the orientation is flipped
        flipped, _ = _call(fn, x, mean, components.T.contiguous())
        if (
            isinstance(flipped, torch.Tensor)
            and flipped.shape == expected.shape
            and torch.allclose(flipped.double(), expected, atol=1e-6)
        ):
            return _verdict(
                False,
                "components is V of shape (k, d), one principal direction per row: the code is "
                "(x − μ) Vᵀ and the reconstruction μ + (x − μ) Vᵀ V; you treated V as (d, k).",
            )
    if problem:
        return _verdict(False, problem)
    if (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
    ):
        forgot_mean = x @ components.T @ components
        if torch.allclose(answer.double(), forgot_mean, atol=1e-6):
            return _verdict(
                False,
                "subtract the mean before projecting and add it back after.",
            )
    return _close(answer, expected, "the reconstruction", atol=1e-6)


@exercise("ex-structure-principal-angles")
def check_principal_angles(fn: Callable) -> bool:
    """fn(a, b) -> (k,) tensor: the principal angles between span(a) and span(b), in degrees, ascending.

    a, b: (d, k) bases of full column rank, neither orthonormal nor of unit columns (as a decoder's
    weights). The reference is :func:`aecourse.evaluation.pca.principal_angles` (SciPy's
    ``subspace_angles``). Three cases: two random subspaces; the same subspace in another basis, b = a A
    (every angle 0); and a hand-made pair sharing one direction and orthogonal in the other (0° and 90°).
    """
    # Here, not at the top: the reference imports SciPy and scikit-learn.
    from aecourse.evaluation.pca import principal_angles

    g = torch.Generator().manual_seed(3)
    # short columns: the singular values of aᵀb stay below 1, so skipping the orthonormalisation gives
    # finite wrong angles that the checker can name, not NaN
    a = 0.2 * torch.randn(10, 3, generator=g, dtype=torch.float64)
    b = 0.2 * torch.randn(10, 3, generator=g, dtype=torch.float64)
    mix = torch.tensor(
        [[2.0, 1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 3.0]],
        dtype=torch.float64,
    )  # invertible (determinant 5)
    # span{e1, e2} against span{e1 + e2, e3} in R^5: they share e1 + e2 and are orthogonal otherwise
    e = torch.eye(5, dtype=torch.float64)
    hand_a = torch.stack([e[0] + 2 * e[1], e[1]], dim=1)
    hand_b = torch.stack([3 * (e[0] + e[1]), e[2] - e[0] - e[1]], dim=1)
    cases = [
        (a, b, "two random subspaces"),
        (a, a @ mix, "b = a·A, the same subspace in another basis"),
        (hand_a, hand_b, "span{e1, e2} and span{e1 + e2, e3}"),
    ]
    for x, y, what in cases:
        answer, problem = _call(fn, x.clone(), y.clone())
        if problem:
            return _verdict(False, problem)
        expected = torch.from_numpy(principal_angles(x, y))
        if (
            isinstance(answer, torch.Tensor)
            and answer.shape == expected.shape
            and torch.allclose(
                answer.double(), expected, atol=1e-4, rtol=0
            )
        ):
            continue
        if isinstance(answer, torch.Tensor) and answer.shape == (
            expected.shape
        ):
            got = answer.detach().double()
            if slip := _known_slip(
                _angle_slips(x, y, expected, what),
                lambda wrong, got=got: torch.allclose(
                    got,
                    wrong,
                    atol=1e-4,
                    rtol=0,
                    equal_nan=True,
                ),
            ):
                return _verdict(False, slip)
            if answer.dtype != torch.float64 and torch.allclose(
                got, expected, atol=0.1, rtol=0
            ):
                return _verdict(
                    False,
                    f"for {what}, your angles are off by hundredths of a degree: compute in "
                    "float64 (the inputs' dtype); near 0° the arccos of a float32 cosine is that "
                    "far off.",
                )
            if got.isnan().any():
                return _verdict(
                    False,
                    f"for {what}, your angles hold NaN: a cosine computed as 1 plus a rounding "
                    "error has no arccos; clamp the cosines to [−1, 1] first.",
                )
        return _close(
            answer,
            expected,
            f"for {what}, the angles",
            atol=1e-4,
            rtol=0,
            plural=True,
        )
    return _verdict(
        True,
        "the principal angles match scipy.linalg.subspace_angles, and are all 0 for one subspace "
        "in two different bases.",
    )


def _angle_slips(
    a: torch.Tensor, b: torch.Tensor, expected: torch.Tensor, what: str
) -> list[tuple[torch.Tensor, str]]:
    """(the angles a known slip gives, the message that names it) for the bases a, b (d, k)."""
    # not cosines: the columns of a and b are not orthonormal
    raw = torch.linalg.svdvals(a.T @ b)
    columns = torch.rad2deg(
        torch.arccos(
            torch.nn.functional.cosine_similarity(a, b, dim=0).clamp(
                -1, 1
            )
        )
    )
    not_orthonormal = (
        "orthonormalise each basis first (torch.linalg.qr): the singular values of aᵀb are "
        "the cosines of the angles only when the columns of a and b are orthonormal."
    )
    column_by_column = (
        f"for {what} you compared the columns one by one (column i of a with column i of b); "
        "the angles between two subspaces do not depend on the bases chosen for them."
    )
    return [
        (torch.rad2deg(torch.arccos(raw.clamp(-1, 1))), not_orthonormal),
        (torch.rad2deg(torch.arccos(raw)), not_orthonormal),
        (
            torch.deg2rad(expected),
            "your angles are in radians: return degrees (torch.rad2deg).",
        ),
        (
            torch.cos(torch.deg2rad(expected)),
            "you returned the cosines (the singular values of Q_aᵀ Q_b): the angles are their "
            "arccos, in degrees.",
        ),
        (
            expected.flip(0),
            "sort the angles in ascending order, the smallest first.",
        ),
        (columns, column_by_column),
        (columns.sort().values, column_by_column),
    ]
