"""Exercise checkers: each one runs a student's answer on fresh inputs and says right or wrong, and why.

A checker prints a one-line verdict and returns True/False, so a notebook cell can both show it and
``assert`` it. A stub that still raises ``NotImplementedError`` gets "not done yet", not a stack trace.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .losses import reconstruction_loss


def _verdict(ok: bool, message: str) -> bool:
    print(("✅ Correct: " if ok else "❌ Not yet: ") + message)
    return ok


def _call(fn: Callable, *args):
    """Run the student's function; return (result, None) or (None, a message saying what went wrong)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "the function still raises NotImplementedError: replace the stub with your code."
    except Exception as err:  # a student's bug: report it in one line
        return None, f"calling it raised {type(err).__name__}: {err}"


def _close(answer, expected: torch.Tensor, what: str, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    if not isinstance(answer, torch.Tensor):
        return _verdict(False, f"{what} should be a torch.Tensor, got {type(answer).__name__}.")
    if answer.shape != expected.shape:
        return _verdict(False, f"{what} has shape {tuple(answer.shape)}, expected {tuple(expected.shape)}.")
    if not torch.allclose(answer.double(), expected.double(), atol=atol, rtol=rtol):
        err = (answer.double() - expected.double()).abs().max().item()
        return _verdict(False, f"{what} differs from the reference by up to {err:.3g}.")
    return _verdict(True, f"{what} matches the reference.")


# --- Chapter 1 -------------------------------------------------------------------------------------

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
            return _verdict(False, "you averaged over pixels too; sum over the pixels of each image, average over images.")
    return _close(answer, expected, "the loss")


def check_pca_reconstruction(fn: Callable) -> bool:
    """fn(x, mean, components) -> x̂ = mean + (x − mean) Vᵀ V for x (N, d), mean (d,), components V (k, d)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 12, generator=g, dtype=torch.float64)
    v, _ = torch.linalg.qr(torch.randn(12, 3, generator=g, dtype=torch.float64))
    components = v.T.contiguous()  # (3, 12), orthonormal rows like sklearn's components_
    mean = x.mean(0)
    answer, problem = _call(fn, x, mean, components)
    if problem:
        return _verdict(False, problem)
    expected = mean + (x - mean) @ components.T @ components
    if isinstance(answer, torch.Tensor) and answer.shape == expected.shape:
        forgot_mean = x @ components.T @ components
        if torch.allclose(answer.double(), forgot_mean, atol=1e-6):
            return _verdict(False, "subtract the mean before projecting and add it back after.")
    return _close(answer, expected, "the reconstruction", atol=1e-6)


# --- Chapter 2 -------------------------------------------------------------------------------------

def check_binary_code(fn: Callable) -> bool:
    """fn(codes) -> (n, h) int tensor of 0/1: each code unit thresholded at 0.5."""
    codes = torch.tensor([[0.97, 0.02, 0.51], [0.49, 0.99, 0.03], [0.5, 0.2, 0.8]])
    answer, problem = _call(fn, codes)
    if problem:
        return _verdict(False, problem)
    expected = (codes > 0.5).long()
    if not isinstance(answer, torch.Tensor):
        return _verdict(False, f"return a tensor, got {type(answer).__name__}.")
    if answer.dtype.is_floating_point:
        return _verdict(False, "return integers 0/1 (e.g. with .long()), not floats.")
    return _close(answer, expected, "the bits (a value of exactly 0.5 counts as 0)", atol=0)


def check_min_code_bits(fn: Callable) -> bool:
    """fn(n) -> the fewest binary code units that give n inputs distinct codes: ⌈log2 n⌉."""
    for n in (2, 3, 8, 9, 16, 17, 1000):
        answer, problem = _call(fn, n)
        if problem:
            return _verdict(False, problem)
        expected = math.ceil(math.log2(n))
        if answer != expected:
            return _verdict(False, f"for n = {n} you answered {answer}, but {expected} binary units are needed: "
                            f"{expected - 1} give only {2 ** (expected - 1)} codes, {expected} give {2 ** expected}.")
    return _verdict(True, "⌈log2 n⌉ bits: h bits name at most 2^h inputs.")


# --- Chapter 3 -------------------------------------------------------------------------------------

def _overwrite_transpose(x: torch.Tensor, kernel: torch.Tensor, s: int) -> torch.Tensor:
    """The classic slip: each stamp overwrites the output instead of adding to it."""
    (h, w), (kh, kw) = x.shape, kernel.shape
    out = torch.zeros((h - 1) * s + kh, (w - 1) * s + kw, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[i * s:i * s + kh, j * s:j * s + kw] = x[i, j] * kernel
    return out


def check_conv_transpose2d(fn: Callable) -> bool:
    """fn(x, kernel, stride) -> the transposed convolution of one (H, W) image by one (kH, kW) kernel."""
    g = torch.Generator().manual_seed(3)
    cases = [(torch.tensor([[1.0, 2.0], [5.0, 9.0]]), torch.tensor([[3.0, 4.0], [1.0, 1.0]]), 2)]
    for h, w, kh, kw, s in ((3, 3, 3, 3, 2), (2, 4, 2, 3, 1), (4, 3, 3, 2, 3), (1, 1, 2, 2, 2), (5, 5, 4, 4, 2)):
        cases.append((torch.randn(h, w, generator=g, dtype=torch.float64),
                      torch.randn(kh, kw, generator=g, dtype=torch.float64), s))
    for x, kernel, s in cases:
        answer, problem = _call(fn, x.clone(), kernel.clone(), s)
        if problem:
            return _verdict(False, problem)
        expected = F.conv_transpose2d(x[None, None], kernel[None, None], stride=s)[0, 0].double()
        where = f"for a {tuple(x.shape)} input, a {tuple(kernel.shape)} kernel and stride {s}"
        if not isinstance(answer, torch.Tensor):
            return _verdict(False, f"return a tensor, got {type(answer).__name__}.")
        if answer.shape != expected.shape:
            return _verdict(False, f"{where} the output has shape {tuple(answer.shape)}, expected "
                            f"{tuple(expected.shape)} = ((H − 1)·s + kH, (W − 1)·s + kW).")
        if not torch.allclose(answer.double(), expected, atol=1e-5, rtol=1e-5):
            if torch.allclose(answer.double(), _overwrite_transpose(x, kernel, s).double(), atol=1e-5, rtol=1e-5):
                return _verdict(False, f"{where} your stamps overwrite each other: where they overlap they must add up (+=).")
            err = (answer.double() - expected).abs().max().item()
            return _verdict(False, f"{where} the output differs from torch's conv_transpose2d by up to {err:.3g}.")
    return _verdict(True, "every input pixel stamps the scaled kernel and overlaps add up, as in torch's conv_transpose2d.")


def check_max_unpool2d(fn: Callable) -> bool:
    """fn(x, switches, output_size) -> (H, W): each value of x (h, w) put at its switch, zeros elsewhere."""
    g = torch.Generator().manual_seed(4)
    for h, w, p in ((4, 4, 2), (6, 8, 2), (7, 5, 2), (9, 9, 3)):
        image = torch.randn(h, w, generator=g)
        pooled, switches = F.max_pool2d(image[None], p, return_indices=True)
        pooled, switches = pooled[0], switches[0]
        answer, problem = _call(fn, pooled.clone(), switches.clone(), (h, w))
        if problem:
            return _verdict(False, problem)
        expected = F.max_unpool2d(pooled[None], switches[None], p, output_size=(h, w))[0]
        where = f"for a {h} × {w} image pooled with {p} × {p} windows"
        if not isinstance(answer, torch.Tensor):
            return _verdict(False, f"return a tensor, got {type(answer).__name__}.")
        if answer.shape != expected.shape:
            return _verdict(False, f"{where} the output has shape {tuple(answer.shape)}, expected {(h, w)}: "
                            "use output_size, pooling dropped the rows and columns that did not fill a window.")
        if torch.allclose(answer.float(), expected, atol=1e-6):
            continue
        nonzero = (answer != 0).sum().item()
        if nonzero > pooled.numel():
            return _verdict(False, f"{where} {nonzero} entries are non-zero, but only {pooled.numel()} values were "
                            "pooled: put each value only where its maximum was (its switch) and zeros elsewhere.")
        return _verdict(False, f"{where} the values are not at their switches: switch k means row k // W, "
                        "column k % W of the output.")
    return _verdict(True, "each value goes back to where its maximum was, zeros elsewhere, as in torch's max_unpool2d.")


def check_transposed_output_size(fn: Callable) -> bool:
    """fn(u, k, s, p, output_padding) -> the length of ConvTranspose2d's output along one dimension."""
    for u, k, s, p, op in ((7, 4, 2, 1, 0), (7, 3, 2, 1, 1), (2, 2, 2, 0, 0), (5, 3, 1, 0, 0),
                           (5, 3, 2, 0, 0), (4, 5, 3, 2, 2), (1, 3, 2, 1, 0), (10, 2, 1, 0, 0)):
        answer, problem = _call(fn, u, k, s, p, op)
        if problem:
            return _verdict(False, problem)
        layer = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op)
        with torch.no_grad():
            expected = layer(torch.zeros(1, 1, u, u)).shape[-1]
        if answer != expected:
            hint = (" u·s is only the simple rule; it holds when k + output_padding = s + 2p."
                    if answer == u * s else "")
            return _verdict(False, f"for u={u}, k={k}, s={s}, p={p}, output_padding={op} you answered {answer}, "
                            f"but ConvTranspose2d gives {expected}.{hint}")
    return _verdict(True, "(u − 1)·s − 2p + k + output_padding, as ConvTranspose2d computes it.")


# --- Chapter 4 -------------------------------------------------------------------------------------

def check_mask(fn: Callable) -> bool:
    """fn(x, nu) -> x with each entry set to 0 with probability nu, independently; the rest unchanged."""
    # The student's function draws from the global generator: seed it for a repeatable verdict, inside
    # fork_rng so that the notebook's own random stream is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        return _check_mask(fn)


def _check_mask(fn: Callable) -> bool:
    x = torch.rand(200, 784, dtype=torch.float64) * 0.9 + 0.1  # no zeros of its own
    original = x.clone()
    for nu in (0.0, 1.0, 0.3, 0.75):
        answer, problem = _call(fn, x, nu)
        if problem:
            return _verdict(False, problem)
        if not torch.equal(x, original):
            return _verdict(False, "your function changed x itself: return a corrupted copy, the clean x is the target.")
        if not isinstance(answer, torch.Tensor) or answer.shape != x.shape:
            shape = tuple(answer.shape) if isinstance(answer, torch.Tensor) else type(answer).__name__
            return _verdict(False, f"return a tensor of x's shape {tuple(x.shape)}, got {shape}.")
        answer = answer.double()
        kept = answer != 0
        if not torch.allclose(answer[kept], x[kept]):
            if torch.allclose(answer[kept], x[kept] / (1 - nu)):
                return _verdict(False, "the kept entries are scaled by 1/(1 − ν), as dropout does; masking noise "
                                "leaves them unchanged.")
            return _verdict(False, "entries that are not set to 0 must keep their value.")
        if 0 < nu < 1:
            rows_alike = (kept == kept[:1]).all(1).double().mean().item()
            columns_alike = (kept == kept[:, :1]).all(0).double().mean().item()
            if rows_alike > 0.5 or columns_alike > 0.5:
                return _verdict(False, "the zeros fall in the same places for every image (or every pixel): draw "
                                "an independent decision for each entry, e.g. torch.rand_like(x) < nu.")
        rate = 1 - kept.double().mean().item()
        tolerance = 5 * math.sqrt(max(nu * (1 - nu), 1e-12) / x.numel()) + 1e-12
        if abs(rate - nu) > tolerance:
            flipped = " (did you keep with probability ν instead of dropping?)" if abs(rate - (1 - nu)) <= tolerance else ""
            return _verdict(False, f"with ν = {nu} a fraction {rate:.3f} of the entries is 0, expected {nu}{flipped}.")
    return _verdict(True, "each entry is dropped with probability ν, independently, and the rest is untouched.")


def check_contractive_penalty(fn: Callable) -> bool:
    """fn(x, W, b) -> scalar: ‖∂h/∂x‖²_F of h = sigmoid(x Wᵀ + b), summed per example, mean over the batch."""
    g = torch.Generator().manual_seed(6)
    x = torch.rand(32, 20, generator=g, dtype=torch.float64)
    W = torch.randn(12, 20, generator=g, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    answer, problem = _call(fn, x, W, b)
    if problem:
        return _verdict(False, problem)
    from .regularizers import contractive_penalty  # the reference, tested against autograd

    expected = contractive_penalty(x, W, b)
    if isinstance(answer, torch.Tensor) and answer.dim() == 0:
        h = torch.sigmoid(x @ W.T + b)
        slopes = h * (1 - h)
        unsquared = (slopes @ W.pow(2).sum(1)).mean()
        if torch.isclose(answer.double(), unsquared, rtol=1e-6):
            return _verdict(False, "square the sigmoid's slope: J_ij = h_i(1 − h_i)·W_ij, so J_ij² has (h_i(1 − h_i))².")
        if torch.isclose(answer.double(), expected * len(x), rtol=1e-6):
            return _verdict(False, "you summed over the batch: average over the examples instead.")
    return _close(answer, expected, "the penalty", atol=1e-8, rtol=1e-6)
