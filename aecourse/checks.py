"""Exercise checkers: each one runs a student's answer on fresh inputs and says right or wrong, and why.

A checker prints a one-line verdict and returns True/False, so a notebook cell can both show it and
``assert`` it. A stub that still raises ``NotImplementedError`` gets "not done yet", not a stack trace.
"""

from __future__ import annotations

import math
import numbers
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


# --- Chapter 5 -------------------------------------------------------------------------------------

def check_greedy_pretraining(fn: Callable) -> bool:
    """fn(net, x, train_module) pretrains net's hidden layers greedily, in place.

    For l = 1..L it must build h^(l-1)(x) (x flattened for l = 1) through the layers already pretrained,
    without gradients, call ``train_module(h, n_out)`` -> nn.Linear(d, n_out), and copy that layer's
    weight and bias into ``net.hidden[l-1]``; the output layer stays as it was.
    """
    from .pretraining import DeepNet  # here, not at the top: checks must not import the whole course

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        net = DeepNet([12, 8, 6, 5], n_classes=3)
        x = torch.rand(40, 1, 3, 4)  # "images" with 12 pixels: the first layer needs them flattened
    original = [p.detach().clone() for p in net.parameters()]
    calls, returned = [], []

    def train_module(h, n_out):
        """A stand-in for a trained autoencoder's encoder: a Linear layer that depends on h."""
        if not isinstance(h, torch.Tensor) or h.dim() != 2:
            shape = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
            raise ValueError(f"train_module needs the training set as a (N, d) batch of vectors, one row per input "
                             f"(flattened), got {shape}")
        l, d = len(calls) + 1, h.shape[1]
        if l <= net.depth and d != net.sizes[l - 1]:
            raw = " (it got the raw inputs)" if l > 1 and d == net.sizes[0] else ""
            raise ValueError(f"layer {l}'s greedy module got {d} values per input{raw}; it must be trained on "
                             f"h^({l - 1})(x), the {net.sizes[l - 1]} outputs of the pretrained layer(s) below")
        calls.append((h.detach().clone(), n_out, h.requires_grad))
        layer = torch.nn.Linear(d, n_out)
        with torch.no_grad():
            grid = torch.arange(n_out * d, dtype=torch.float32).reshape(n_out, d)
            layer.weight.copy_(torch.sin(grid + 10 * h.mean()) / math.sqrt(d))
            layer.bias.copy_(torch.cos(torch.arange(n_out, dtype=torch.float32)) - h.mean())
        returned.append(layer)
        return layer

    _, problem = _call(fn, net, x, train_module)
    if problem:
        return _verdict(False, problem)
    if len(calls) != net.depth:
        return _verdict(False, f"train_module was called {len(calls)} times; the net has {net.depth} hidden layers: "
                        "train one greedy module per layer.")
    flat = x.flatten(1)
    random_h = flat
    for l, ((h, n_out, needs_grad), layer) in enumerate(zip(calls, returned), start=1):
        expected = flat
        for below in returned[: l - 1]:
            expected = torch.sigmoid(below(expected)).detach()
        if n_out != net.sizes[l]:
            return _verdict(False, f"layer {l} has {net.sizes[l]} units; its greedy module was asked for {n_out}.")
        if needs_grad:
            return _verdict(False, f"the training set of layer {l} carries gradients back into the layers below: "
                            "compute it under torch.no_grad() (the layers below stay fixed while layer l trains).")
        if h.shape != expected.shape:
            return _verdict(False, f"layer {l}'s training set should have shape {tuple(expected.shape)} (one row "
                            f"h^({l - 1})(x) per input, flattened), got {tuple(h.shape)}.")
        if not torch.allclose(h, expected, atol=1e-5):
            if l > 1 and torch.allclose(h, random_h, atol=1e-5):
                return _verdict(False, f"layer {l} was trained on h^({l - 1}) computed with the layers below as they "
                                "were *before* pretraining: copy each trained layer into the net before building "
                                "the next training set.")
            below = returned[l - 2] if l > 1 else None
            if below is not None and torch.allclose(h, below(calls[l - 2][0]).detach(), atol=1e-5):
                return _verdict(False, f"layer {l}'s training set misses the activation: h^({l - 1}) = "
                                f"sigmoid(W h^({l - 2}) + b), not the affine part alone.")
            # (Raw inputs in place of h^(l-1) never get here: their width is refused in train_module.)
            return _verdict(False, f"layer {l} was not trained on h^({l - 1})(x), the output of the {l - 1} "
                            "pretrained layer(s) below it.")
        random_h = torch.sigmoid(torch.nn.functional.linear(random_h, original[2 * (l - 1)], original[2 * l - 1]))
        mine = net.hidden[l - 1]
        if not torch.equal(mine.weight.detach(), layer.weight.detach()):
            return _verdict(False, f"net.hidden[{l - 1}].weight is not the weight of layer {l}'s greedy module: "
                            "copy it in (with torch.no_grad(): net.hidden[l - 1].weight.copy_(...)).")
        if not torch.equal(mine.bias.detach(), layer.bias.detach()):
            return _verdict(False, f"the weight of layer {l} was copied but not its bias.")
    if not all(torch.equal(a, b) for a, b in zip(net.output.parameters(), original[-2:])):
        return _verdict(False, "the output layer changed: leave it random, it is trained only when fine-tuning.")
    return _verdict(True, "each layer is trained on the codes of the pretrained layers below it and copied into the net.")


def check_frozen_training(fn: Callable) -> bool:
    """fn(net, x, y, epochs) trains only net.output on (x, y), in place; the hidden layers must not change."""
    from .pretraining import DeepNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        centres = 3.0 * torch.randn(4, 12)
        y = torch.arange(200) % 4
        x = torch.sigmoid(centres[y] + 0.5 * torch.randn(200, 12))
        net = DeepNet([12, 10, 8], n_classes=4)
        # Hidden layers worth keeping: train the whole net briefly, then start the output layer afresh.
        optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(100):
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
        net.output.reset_parameters()
        before = [p.detach().clone() for p in net.parameters()]
        loss_before = F.cross_entropy(net(x), y).item()
        _, problem = _call(fn, net, x, y, 20)
    if problem:
        return _verdict(False, problem)
    hidden = [p for layer in net.hidden for p in layer.parameters()]
    if not all(torch.equal(p.detach(), b) for p, b in zip(hidden, before)):
        return _verdict(False, "the hidden layers changed: give the optimizer net.output.parameters() only (or set "
                        "requires_grad=False on the hidden layers' parameters).")
    if not all(p.requires_grad for p in hidden):
        return _verdict(False, "the hidden layers are left with requires_grad=False: turn it back on when you are done, "
                        "or fine-tuning this net later will silently train the output layer only.")
    if all(torch.equal(p.detach(), b) for p, b in zip(net.output.parameters(), before[-2:])):
        return _verdict(False, "the output layer did not change: compute the loss, call backward() and optimizer.step().")
    with torch.no_grad():
        loss_after = F.cross_entropy(net(x), y).item()
    if not loss_after < 0.8 * loss_before:
        return _verdict(False, f"the training loss went from {loss_before:.3f} to {loss_after:.3f} in 20 epochs: minimise "
                        "the cross-entropy of net(x) and y, with a larger learning rate (e.g. 0.5 with SGD).")
    return _verdict(True, f"only the output layer trained (cross-entropy {loss_before:.3f} → {loss_after:.3f}); the "
                    "hidden layers are exactly as they were.")


# --- chapter 7: variational autoencoders -------------------------------------------------------------

def check_reparameterize(fn: Callable) -> bool:
    """fn(mu, logvar) -> z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I) drawn afresh for every entry."""
    # As for check_mask: seeded for a repeatable verdict, inside fork_rng so the notebook's stream is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        return _check_reparameterize(fn)


def _standard_normal(eps: torch.Tensor) -> bool:
    """Whether every column of eps (N, K) has mean ≈ 0 and standard deviation ≈ 1 (within 5 standard errors)."""
    n = len(eps)
    return bool((eps.mean(0).abs() < 5 / math.sqrt(n)).all() and ((eps.std(0) - 1).abs() < 5 / math.sqrt(2 * n)).all())


def _check_reparameterize(fn: Callable) -> bool:
    g = torch.Generator().manual_seed(7)
    n = 4000
    mu = (1 + torch.randn(n, 4, generator=g, dtype=torch.float64)).requires_grad_()
    # One log-variance per code unit, below and above 0, so that σ, σ², log σ² and 1/σ all differ.
    logvar = torch.tensor([-3.0, -1.0, 1.5, 2.5], dtype=torch.float64).repeat(n, 1).requires_grad_()
    z, problem = _call(fn, mu, logvar)
    if problem:
        return _verdict(False, problem)
    if not isinstance(z, torch.Tensor) or z.shape != mu.shape:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        return _verdict(False, f"return a tensor z of mu's shape {tuple(mu.shape)}, got {shape}.")
    if not torch.isfinite(z).all():
        return _verdict(False, "z has NaN or inf: log σ² can be negative, so take exp before any square root: "
                        "σ = exp(½ log σ²).")
    m, lv, zd = mu.detach(), logvar.detach(), z.detach().double()
    if torch.equal(zd, m):
        return _verdict(False, "z equals μ: add the noise σ ⊙ ε, with ε ~ N(0, I).")
    again, problem = _call(fn, mu, logvar)
    if not problem and isinstance(again, torch.Tensor) and torch.equal(again.detach().double(), zd):
        return _verdict(False, "two calls gave the same z: draw a new ε inside the function on every call, "
                        "e.g. torch.randn_like(mu).")
    sigma = torch.exp(0.5 * lv)
    eps = (zd - m) / sigma
    same_for_examples = bool(((eps - eps[:1]).abs() < 1e-6).all())  # every row as the first
    same_for_units = bool(((eps - eps[:, :1]).abs() < 1e-6).all())  # every column as the first
    if same_for_examples or same_for_units:
        who = "every example" if same_for_examples else "every code unit"
        return _verdict(False, f"{who} got the same ε: draw one ε per entry of μ, e.g. torch.randn_like(mu).")
    if _standard_normal(eps):
        return _check_reparameterize_gradients(z, mu, logvar)
    if eps.min() > -1e-9 and eps.max() < 1 + 1e-9:
        return _verdict(False, "ε looks uniform on [0, 1): draw it from N(0, I) with torch.randn_like, "
                        "not torch.rand_like.")
    slips = [  # each slip as the (centre, scale) that makes (z − centre)/scale standard normal
        (m, lv.exp(), "you scaled ε by σ² = exp(log σ²): the standard deviation is σ = exp(½ log σ²), mind the ½."),
        (m, lv, "you scaled ε by log σ² itself: the standard deviation is σ = exp(½ log σ²)."),
        (m, 0.5 * lv, "you scaled ε by ½ log σ²: take the exp, σ = exp(½ log σ²)."),
        (m, 1 / sigma, "the sign in the exponent is flipped: σ = exp(+½ log σ²), not exp(−½ log σ²)."),
        (torch.zeros_like(m), sigma, "z is missing the mean: z = μ + σ ⊙ ε."),
        (-m, sigma, "μ has the wrong sign: z = μ + σ ⊙ ε."),
    ]
    for centre, scale, message in slips:
        if _standard_normal((zd - centre) / scale):
            return _verdict(False, message)
    return _verdict(False, f"(z − μ)/σ should be standard normal, but its columns have means "
                    f"{[round(v, 2) for v in eps.mean(0).tolist()]} and standard deviations "
                    f"{[round(v, 2) for v in eps.std(0).tolist()]}.")


def _check_reparameterize_gradients(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> bool:
    """The point of the trick: ∂z/∂μ = 1 and ∂z/∂log σ² = ½ σ ε = ½ (z − μ): gradients reach the encoder."""
    no_path = ("gradients do not flow from z back to μ and log σ²: build z = mu + std * eps from tensors "
               "(torch.normal and Normal(...).sample() are not differentiable; no .detach(), .item() or numpy).")
    if not z.requires_grad:
        return _verdict(False, no_path)
    d_mu, d_logvar = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    if d_mu is None or d_logvar is None:
        return _verdict(False, no_path)
    if not (torch.allclose(d_mu, torch.ones_like(d_mu))
            and torch.allclose(d_logvar, 0.5 * (z.detach().double() - mu.detach()), atol=1e-6)):
        return _verdict(False, no_path)
    return _verdict(True, "z = μ + exp(½ log σ²) ⊙ ε: standard normal noise, scaled by σ, and gradients reach "
                    "μ and log σ².")


def check_gaussian_kl(fn: Callable) -> bool:
    """fn(mu, logvar) -> (N,): KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) per example."""
    from .vae import gaussian_kl  # the reference, tested against torch.distributions and Monte Carlo

    g = torch.Generator().manual_seed(8)
    mu = torch.randn(6, 5, generator=g, dtype=torch.float64)
    logvar = 1.5 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    mu[0], logvar[0] = 0.0, 0.0  # the prior itself: KL = 0
    answer, problem = _call(fn, mu.clone(), logvar.clone())
    if problem:
        return _verdict(False, problem)
    expected = gaussian_kl(mu, logvar)
    if isinstance(answer, torch.Tensor):
        answer = answer.detach()
        if not torch.isfinite(answer).all():
            return _verdict(False, "the KL has NaN or inf: log σ² can be negative, so never take its log or square "
                            "root; σ² = exp(log σ²).")
        per_unit = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
        if answer.shape == per_unit.shape and torch.allclose(answer.double(), per_unit, rtol=1e-5):
            return _verdict(False, f"sum over the {mu.shape[1]} code units of each example: return shape (N,).")
        if answer.dim() == 0:
            for total, how in ((expected.sum(), "summed"), (expected.mean(), "averaged")):
                if torch.isclose(answer.double(), total, rtol=1e-5):
                    return _verdict(False, f"you {how} over the batch: return one KL per example, shape (N,).")
        if answer.shape == expected.shape:
            def kl(variance, log_variance, minus_one=-1.0):  # ½ Σ (μ² + σ² − 1 − log σ²), with a term swapped
                return 0.5 * (mu.pow(2) + variance + minus_one - log_variance).sum(1)

            slips = [
                (2 * expected, "you forgot the ½ in front of the sum."),
                (-expected, "the sign is flipped: a KL divergence is never negative."),
                (kl(torch.exp(0.5 * logvar), logvar), "σ² = exp(log σ²); you used σ = exp(½ log σ²) in its place."),
                (kl(logvar.exp(), 0.5 * logvar), "the last term is log σ², the log-variance itself, not ½ log σ²."),
                (kl(logvar.exp(), -logvar), "the log-variance enters with a minus sign: … − 1 − log σ²."),
                (kl(logvar.exp(), logvar, +1.0), "it is − 1 inside the sum (so that the KL is 0 for μ = 0, σ = 1)."),
                (kl(logvar, logvar), "log σ² is the log-variance: the variance is σ² = exp(log σ²)."),
                (expected / mu.shape[1], "sum over the code units of each example, do not average them."),
                (expected + 0.5 * (mu - mu.pow(2)).sum(1), "μ enters squared: ½ Σ (μ² + σ² − 1 − log σ²)."),
            ]
            for wrong, message in slips:
                if torch.allclose(answer.double(), wrong, rtol=1e-5, atol=1e-8):
                    return _verdict(False, message)
    return _close(answer, expected, "the KL per example", atol=1e-6, rtol=1e-5)


# --- chapter 6: sequence to sequence ---------------------------------------------------------------

def check_masked_loss(fn: Callable) -> bool:
    """fn(logits, targets, pad_index) -> scalar: cross-entropy averaged over the target tokens that are not padding.

    logits (N, T, V); targets (N, T), each sentence padded with pad_index after its last token.
    """
    g = torch.Generator().manual_seed(9)
    lengths = torch.tensor([7, 2, 5, 1, 4, 7])
    n, t, v = len(lengths), 7, 11  # t != v, so class and time dimensions cannot be confused unnoticed
    real = torch.arange(t) < lengths[:, None]
    for pad_index in (0, 3):  # 3 catches a hard-coded 0
        logits = 2 * torch.randn(n, t, v, generator=g, dtype=torch.float64)
        targets = torch.randint(0, v - 1, (n, t), generator=g)
        targets[targets >= pad_index] += 1  # real tokens are never the padding index
        targets[~real] = pad_index
        answer, problem = _call(fn, logits.clone(), targets.clone(), pad_index)
        if problem:
            return _verdict(False, problem)
        if not isinstance(answer, torch.Tensor) or answer.dim() != 0:
            got = f"shape {tuple(answer.shape)}" if isinstance(answer, torch.Tensor) else type(answer).__name__
            return _verdict(False, f"return one number as a 0-dimensional tensor (it is what .backward() starts from), got {got}.")
        per_token = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(n, t)
        expected = (per_token * real).sum() / real.sum()
        if torch.isclose(answer.detach().double(), expected, rtol=1e-6):
            continue
        slips = [
            (per_token.mean(), "the padding positions count in your mean: leave out every target equal to pad_index "
             "(multiply by a mask, or F.cross_entropy(..., ignore_index=pad_index))."),
            (per_token.sum() / real.sum(), "padding positions still add to your sum: mask them out before summing."),
            ((per_token * real).sum() / real.numel(), "you divided by every position, padding included: divide by the "
             "number of real target tokens, mask.sum()."),
            ((per_token * real).sum(), "you summed: take the mean over the real target tokens."),
            ((per_token * real).sum() / n, "you summed over each sentence and averaged over sentences: take the mean "
             "over all real target tokens, so that every token weighs the same."),
            (((per_token * real).sum(1) / real.sum(1)).mean(), "you averaged each sentence first, so the tokens of short "
             "sentences weigh more: take one mean over all real target tokens of the batch."),
        ]
        if pad_index != 0:
            ignored_zero = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
            slips.append((ignored_zero, "you ignored index 0, but here the padding index is 3: use the pad_index argument."))
        for wrong, message in slips:
            if torch.isclose(answer.detach().double(), wrong, rtol=1e-6):
                return _verdict(False, message)
        return _verdict(False, f"with pad_index={pad_index} your loss is {answer.item():.5g}, the reference "
                        f"{expected.item():.5g}: the mean of −log p(target) over the real target tokens.")
    return _verdict(True, "the mean cross-entropy over the real target tokens, padding left out, as "
                    "F.cross_entropy(..., ignore_index=pad_index) computes it.")


def _greedy_variant(model, src, lengths, max_len: int, carry_hidden: bool = True, feed_back: bool = True) -> torch.Tensor:
    """Greedy decoding as a slip makes it: the hidden state not carried on, or the prediction not fed back."""
    from .translation import SOS_INDEX

    memory = model.encode(src, lengths)
    hidden, tokens, out = memory.code, torch.full((len(src),), SOS_INDEX), []
    for _ in range(max_len):
        logits, new_hidden, _ = model.decoder.step(tokens, hidden, memory)
        hidden = new_hidden if carry_hidden else memory.code
        out.append(logits.argmax(1))
        tokens = out[-1] if feed_back else tokens
    return torch.stack(out, 1)


def check_greedy_decode(fn: Callable) -> bool:
    """fn(model, src, src_lengths, max_len) -> (N, L) token indices, L <= max_len: greedy decoding.

    Start from ``<sos>`` with the code (``model.encode(src, src_lengths).code``) as the hidden state; at
    each step ``model.decoder.step(tokens, hidden, memory)`` gives the logits, the most probable token is
    written and fed back. Each row is compared up to its first ``<eos>``; what follows does not matter.
    """
    from .seq2seq import Seq2Seq
    from .translation import EOS_INDEX, PAD_INDEX, SOS_INDEX

    # A tiny fixed model, built inside fork_rng so that the notebook's random stream is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(21)
        model = Seq2Seq(12, 9, embed_size=8, hidden_size=16, attention=True).eval()
        src = torch.randint(4, 12, (6, 7))
    lengths = torch.tensor([7, 3, 1, 5, 2, 6])
    src[torch.arange(7) >= lengths[:, None]] = PAD_INDEX
    with torch.no_grad():
        for p in model.parameters():
            p *= 2.0  # larger weights: outputs that depend on the input and on every step taken
        # A trained model never writes <pad> or <sos>; with <eos> a little likelier, the six sentences end
        # after 3, 3, 4 and 7 tokens (<eos> included) or not within max_len, so stopping too soon or too late shows.
        model.decoder.out.bias[PAD_INDEX] = model.decoder.out.bias[SOS_INDEX] = -30.0
        model.decoder.out.bias[EOS_INDEX] += 1.0
    max_len = 8
    answer, problem = _call(fn, model, src.clone(), lengths.clone(), max_len)
    if problem:
        return _verdict(False, problem)
    if not isinstance(answer, torch.Tensor) or answer.dim() != 2 or len(answer) != len(src):
        got = f"shape {tuple(answer.shape)}" if isinstance(answer, torch.Tensor) else type(answer).__name__
        return _verdict(False, f"return a ({len(src)}, L) tensor of token indices, one row per sentence; got {got}.")
    if answer.dtype.is_floating_point:
        return _verdict(False, "return token indices (integers, e.g. logits.argmax(-1)), not floats.")
    if len(answer[0]) and (answer[:, 0] == SOS_INDEX).all():
        return _verdict(False, "leave out the <sos> you start from: the first output is the first predicted token.")
    if answer.shape[1] > max_len:
        return _verdict(False, f"your rows have {answer.shape[1]} tokens: stop after at most max_len = {max_len}.")

    def until_eos(row) -> list[int]:
        row = row.tolist()
        return row[: row.index(EOS_INDEX) + 1] if EOS_INDEX in row else row

    from .decoding import greedy_decode  # the reference

    expected, _ = greedy_decode(model, src, lengths, max_len)
    got, want = [until_eos(r) for r in answer], [until_eos(r) for r in expected]
    if got == want:
        return _verdict(True, "from <sos>, each most probable token is written and fed back, with the hidden state "
                        "carried on, until <eos>.")
    with torch.no_grad():
        slips = [
            (_greedy_variant(model, src, lengths, max_len, carry_hidden=False), "carry the hidden state on: each "
             "step's new hidden state is the next step's input, not the code again."),
            (_greedy_variant(model, src, lengths, max_len, feed_back=False), "feed each prediction back in as the "
             "next input token; your decoder reads <sos> at every step."),
        ]
    for wrong, message in slips:
        if got == [until_eos(r) for r in wrong]:
            return _verdict(False, message)
    i = next(i for i, (r, w) in enumerate(zip(got, want)) if r != w)
    j = next((j for j, (a, b) in enumerate(zip(got[i], want[i])) if a != b), min(len(got[i]), len(want[i])))
    if j == len(got[i]):
        return _verdict(False, f"sentence {i} stops after {j} tokens, before its <eos>: keep decoding each sentence "
                        f"until it writes <eos> (or max_len tokens).")
    return _verdict(False, f"sentence {i} differs at position {j}: you wrote {got[i][j]}, greedy decoding writes "
                    f"{want[i][j]} (the argmax of the logits).")


# --- chapter 8: applications ----------------------------------------------------------------------

def _one_number(answer) -> float | None:
    """A float, a numpy scalar or a 0-dim tensor (or numpy array) as a float; None for anything else."""
    if isinstance(answer, torch.Tensor):
        return float(answer.item()) if answer.dim() == 0 and not answer.is_complex() else None
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool):
        return float(answer)
    if getattr(answer, "shape", None) == () and getattr(answer, "dtype", None) is not None:
        try:
            return float(answer)
        except (TypeError, ValueError):
            return None
    return None


def check_auroc(fn: Callable) -> bool:
    """fn(scores, is_anomaly) -> float: AUROC for scores (N,) (higher = more anomalous) and is_anomaly (N,) bool."""
    g = torch.Generator().manual_seed(30)
    for n, n_anom in ((40, 12), (25, 17), (60, 9)):  # unequal classes, more anomalies than normals once
        is_anomaly = torch.zeros(n, dtype=torch.bool)
        is_anomaly[torch.randperm(n, generator=g)[:n_anom]] = True
        scores = (torch.rand(n, generator=g) + 0.35 * is_anomaly).round(decimals=1)  # one decimal: many ties
        answer, problem = _call(fn, scores.clone(), is_anomaly.clone())
        if problem:
            return _verdict(False, problem)
        value = _one_number(answer)
        if value is None:
            got = f"a tensor of shape {tuple(answer.shape)}" if isinstance(answer, torch.Tensor) else type(answer).__name__
            return _verdict(False, f"return one number (a float or a 0-dimensional tensor), got {got}.")
        diff = scores[is_anomaly].double()[:, None] - scores[~is_anomaly].double()[None]
        greater, ties = (diff > 0).sum().item(), (diff == 0).sum().item()
        n_normal, pairs = n - n_anom, n_anom * (n - n_anom)
        expected = (greater + 0.5 * ties) / pairs
        if math.isclose(value, expected, abs_tol=1e-6):
            continue
        where = f"with {n_anom} anomalies and {n_normal} normal examples"
        half = "count a tie as one half; a tie is an anomaly and a normal example with the same score"
        slips = [
            (greater / pairs, f"{where}, you counted ties as 0: {half}."),
            ((greater + ties) / pairs, f"{where}, you counted ties as 1: {half}."),
            (1 - expected, "the scores are reversed: higher must mean more anomalous. AUROC is the probability that "
             "a random anomaly scores higher than a random normal example."),
        ]
        for count, what in ((n * n, "N², the number of all pairs of examples"), (n_anom * n_anom, "N_anom²"),
                            (n_normal * n_normal, "N_normal²"), (1, "nothing")):
            slips.append(((greater + 0.5 * ties) / count, f"{where}, you divided by {what}: divide by the number of "
                          f"(anomaly, normal) pairs, N_anom · N_normal = {pairs}."))
        for wrong, message in slips:
            if math.isclose(value, wrong, abs_tol=1e-6):
                return _verdict(False, message)
        if not 0 <= value <= 1:
            return _verdict(False, f"{where}, you returned {value:.4g}: AUROC is a probability, between 0 and 1.")
        return _verdict(False, f"{where}, your AUROC is {value:.4g}, the reference {expected:.4g}: over every (anomaly, "
                        "normal) pair, count 1 when the anomaly scores higher and ½ for a tie, then take the mean.")
    return _verdict(True, "the probability that a random anomaly scores higher than a random normal example, ties "
                    "counting ½, as sklearn's roc_auc_score computes it.")


def check_hamming_distances(fn: Callable) -> bool:
    """fn(a, b) -> (Q, N): entry [i, j] counts the bits where codes a[i] and b[j] differ; a (Q, B), b (N, B) of 0/1."""
    g = torch.Generator().manual_seed(31)
    for q, n, bits, dtype in ((5, 7, 12, torch.float32), (4, 9, 16, torch.int64)):
        a = torch.randint(0, 2, (q, bits), generator=g).to(dtype)
        b = torch.randint(0, 2, (n, bits), generator=g).to(dtype)
        b[2] = a[1]  # one pair at distance 0
        b[4] = 1 - a[3]  # and one at distance B
        answer, problem = _call(fn, a.clone(), b.clone())
        if problem:
            return _verdict(False, problem)
        expected = (a[:, None] != b[None]).sum(-1).double()
        where = f"for a ({q}, {bits}) and b ({n}, {bits}) of {str(dtype).removeprefix('torch.')} bits"
        if not isinstance(answer, torch.Tensor):
            return _verdict(False, f"return a tensor, got {type(answer).__name__}.")
        if answer.is_complex():
            return _verdict(False, f"return real counts, got a {answer.dtype} tensor.")
        got = answer.detach().double()
        if got.shape == (n, q) and torch.allclose(got, expected.T, atol=1e-5):
            return _verdict(False, f"{where}, you returned the transpose, shape ({n}, {q}): rows are queries a, columns "
                            "b; entry [i, j] compares a[i] with b[j], shape (Q, N).")
        if got.shape != expected.shape:
            return _verdict(False, f"{where}, the distances have shape {tuple(got.shape)}, expected ({q}, {n}) = (Q, N): "
                            "rows are queries a, columns b.")
        if torch.allclose(got, expected, atol=1e-5):
            continue
        slips = [
            (expected / bits, "you returned the fraction of bits that differ: return the count, without dividing by B."),
            (bits - expected, "you counted the bits that agree: the Hamming distance counts those that differ."),
            (expected.sqrt(), "that is the Euclidean distance, the square root of the count: return the count of "
             "differing bits itself."),
            (a.double() @ b.double().T, "a @ b.T counts the bits that are 1 in both codes: count the positions where "
             "the bits differ, e.g. (a[:, None] != b[None]).sum(-1)."),
        ]
        for wrong, message in slips:
            if torch.allclose(got, wrong, atol=1e-5):
                return _verdict(False, f"{where}, {message}")
        i, j = (~torch.isclose(got, expected, atol=1e-5)).nonzero()[0].tolist()
        return _verdict(False, f"{where}, entry [{i}, {j}] is {got[i, j].item():g}, but a[{i}] and b[{j}] differ in "
                        f"{int(expected[i, j])} bits.")
    return _verdict(True, "entry [i, j] counts the bits where a[i] and b[j] differ, as (a[:, None] != b[None]).sum(-1).")


def check_multinomial_loss(fn: Callable) -> bool:
    """fn(logits, proportions) -> scalar: −Σ_v p_v log softmax(logits)_v per row, mean over the batch; both (N, V)."""
    g = torch.Generator().manual_seed(32)
    n, v = 6, 13  # n != v, so the batch and word dimensions cannot be confused unnoticed
    logits = 2 * torch.randn(n, v, generator=g, dtype=torch.float64)
    counts = torch.randint(0, 4, (n, v), generator=g).double()
    counts[0] = 0.0
    counts[0, 5] = 3.0  # a document made of one word
    counts[counts.sum(1) == 0, 0] = 1.0
    proportions = counts / counts.sum(1, keepdim=True)  # rows sum to 1, with zeros
    answer, problem = _call(fn, logits.clone(), proportions.clone())
    if problem:
        return _verdict(False, problem)
    if not isinstance(answer, torch.Tensor):
        return _verdict(False, "return the loss as a 0-dimensional tensor (it is what .backward() starts from), "
                        f"got {type(answer).__name__}.")
    got = answer.detach().double()
    log_q = F.log_softmax(logits, dim=1)
    per_document = -(proportions * log_q).sum(1)
    expected = per_document.mean()
    if got.shape == per_document.shape and torch.allclose(got, per_document, rtol=1e-5):
        return _verdict(False, "you returned one loss per document: average them over the batch, one number.")
    if got.dim() != 0:
        return _verdict(False, "return one number as a 0-dimensional tensor (it is what .backward() starts from), "
                        f"got shape {tuple(got.shape)}.")
    if torch.isclose(got, expected, rtol=1e-5):
        return _verdict(True, "the mean over documents of −Σ_v p_v log softmax(logits)_v, as F.cross_entropy(logits, "
                        "proportions) computes it.")
    slips = [
        (per_document.sum(), f"you summed over the batch: average over the {n} documents instead."),
        (expected / v, f"you averaged over the {v} words too: sum −p_v log q_v over the words of each document, "
         "then average over documents."),
        (-(proportions * logits).sum(1).mean(), "you forgot the softmax: the predicted word probabilities are "
         "softmax(logits), so use F.log_softmax(logits, dim=1), not the logits."),
        (-(proportions * log_q.exp()).sum(1).mean(), "you forgot the log: the loss is −Σ_v p_v log q_v; use "
         "F.log_softmax(logits, dim=1)."),
        (-(proportions * F.log_softmax(logits, dim=0)).sum(1).mean(), "your softmax runs over the batch (dim=0): "
         "normalise each document's logits over its V words, dim=1."),
        (-expected, "the sign is flipped: the loss is −Σ_v p_v log q_v, which is never negative."),
    ]
    for wrong, message in slips:
        if torch.isclose(got, wrong, rtol=1e-5):
            return _verdict(False, message)
    return _verdict(False, f"your loss is {got.item():.5g}, the reference {expected.item():.5g}: the mean over "
                    "documents of −Σ_v p_v log softmax(logits)_v.")
