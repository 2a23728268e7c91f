"""Interactive explorers (ipywidgets) and the static figures that stand in for them on the published page.

The convolution chapter, a transposed convolution one input pixel at a time.
:func:`aecourse.ops.convolution.conv_transpose2d` lets every input pixel stamp the kernel, scaled by its
value, onto a larger output; on the chapter's worked examples (one image, one channel, no padding):

- :func:`transposed_conv_steps` gives the output after the first 1, 2, …, n pixels (reading order) have
  stamped; the last one is the whole transposed convolution;
- :func:`plot_transposed_conv_step` draws one step: the input with the current pixel outlined, the kernel,
  and the output so far with the current stamp outlined, every cell labelled with its number;
- :func:`plot_transposed_conv_steps` is the static figure for the published page, one row per step;
- :func:`transposed_conv_explorer` is the interactive version, a "pixel" slider that redraws the step.

The denoising chapter, a denoising autoencoder one noise level at a time: :func:`plot_denoising` (clean,
corrupted and restored images at several levels, with their PSNR) and :func:`denoising_explorer` (a level
slider).

The VAE chapter, the latent space of a VAE with a 2-D code: :func:`latent_explorer` (two sliders set the
code, the decoded image follows); its static stand-in on the page is the manifold of
:func:`aecourse.models.vae.manifold_grid` drawn by :func:`aecourse.teaching.plots.show_manifold`.

Nothing here computes anything of its own: step t of a transposed convolution *is* ``conv_transpose2d``
of the pixels stamped so far, and the corruptions and PSNR come from :mod:`aecourse.ops.corruptions`.
"""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from aecourse._args import integer, to_numpy
from aecourse.ops.convolution import _pair, conv_transpose2d
from aecourse.ops.corruptions import corrupt, psnr_of_set
from aecourse.teaching.plots import COLOURS, draw_image_rows

HIGHLIGHT = COLOURS["red"]


# --- checks and steps ----------------------------------------------------------------------------


def _check(
    x, kernel, stride
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """x (H, W) and kernel (kH, kW) as non-empty tensors, stride as a pair of ints >= 1."""
    x, kernel = torch.as_tensor(x), torch.as_tensor(kernel)
    for name, t, shape in (
        ("x", x, "(H, W)"),
        ("kernel", kernel, "(kH, kW)"),
    ):
        if t.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D {shape} (one image, one channel), got shape {tuple(t.shape)}."
            )
        if t.numel() == 0:
            raise ValueError(
                f"{name} must not be empty, got shape {tuple(t.shape)}."
            )
    return x, kernel, _pair(stride, "stride", 1)


def _after(
    x: torch.Tensor, kernel: torch.Tensor, stride: tuple[int, int], t: int
) -> torch.Tensor:
    """The output once pixels 1..t (reading order) have stamped: conv_transpose2d of those pixels alone."""
    stamped = x.flatten().clone()
    stamped[t:] = 0
    return conv_transpose2d(stamped.reshape(x.shape), kernel, stride)


def transposed_conv_steps(x, kernel, stride=1) -> list[torch.Tensor]:
    """The output of a transposed convolution after each input pixel has stamped, in reading order.

    x: (H, W), kernel: (kH, kW), stride: an int or a pair (rows, columns); no padding. Returns a list of
    H·W tensors of shape ((H − 1)·s + kH, (W − 1)·s + kW): entry t − 1 is the output after pixels 1..t,
    so the last equals ``conv_transpose2d(x, kernel, stride)``.

    >>> [s.tolist() for s in transposed_conv_steps([[1, 2], [5, 9]], [[3, 4], [1, 1]], 2)][0]
    [[3, 4, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]

    Raises ValueError if x or kernel is not 2-D (or is empty), or the stride is below 1.
    """
    x, kernel, stride = _check(x, kernel, stride)
    return [_after(x, kernel, stride, t) for t in range(1, x.numel() + 1)]


# --- drawing -------------------------------------------------------------------------------------


def _number(v: float) -> str:
    """A cell's label: whole numbers without a decimal point, others to 2 decimals."""
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}"


def _grid(
    ax,
    values: np.ndarray,
    title: str,
    cmap: str,
    vmin: float,
    vmax: float,
) -> None:
    """values as coloured cells with grid lines, each labelled with its number (one text per cell)."""
    ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    span = (vmax - vmin) or 1.0
    for (r, c), v in np.ndenumerate(values):
        dark = (v - vmin) / span > 0.6
        ax.text(
            c,
            r,
            _number(v),
            ha="center",
            va="center",
            fontsize=9,
            color="white" if dark else "black",
        )
    rows, cols = values.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.8)
    ax.tick_params(
        which="both", length=0, labelbottom=False, labelleft=False
    )
    ax.set_title(title, fontsize=9)


def _outline(ax, row: int, col: int, height: int, width: int) -> None:
    ax.add_patch(
        Rectangle(
            (col - 0.5, row - 0.5),
            width,
            height,
            fill=False,
            edgecolor=HIGHLIGHT,
            linewidth=3,
        )
    )


def _range(values: torch.Tensor) -> tuple[float, float]:
    """A colour range that includes 0 (the empty cells) and every value."""
    v = values.detach().double().cpu()
    return min(0.0, float(v.min())), max(0.0, float(v.max()))


def _widths(x, kernel, out_shape) -> tuple[list[int], int]:
    """Relative widths of the (input, kernel, output) axes, at least 3 cells so titles fit, and the height."""
    widths = [
        max(3, x.shape[1]),
        max(3, kernel.shape[1]),
        max(3, out_shape[1]),
    ]
    return widths, max(x.shape[0], kernel.shape[0], out_shape[0])


def _figure(
    rows: int, x, kernel, out_shape, size: float = 0.45
) -> tuple[Figure, np.ndarray]:
    """A pyplot figure with ``rows`` rows of (input, kernel, output) axes, each sized to its grid."""
    widths, height = _widths(x, kernel, out_shape)
    fig, axes = plt.subplots(
        rows,
        3,
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
        figsize=(size * sum(widths) + 1.5, (size * height + 1.1) * rows),
    )
    return fig, axes


def plot_transposed_conv_step(
    x, kernel, stride=1, step: int = 1, ax=None
) -> Figure:
    """One step of a transposed convolution: input, kernel and output so far, every cell numbered.

    x: (H, W), kernel: (kH, kW), stride: int or (rows, columns), step: 0..H·W, the number of input pixels
    stamped so far (0: an empty output). ax: None for a new figure, or a sequence of three axes (input,
    kernel, output) to draw into. The current pixel, x[i, j] with step − 1 = i·W + j, is outlined on the
    input, and its stamp, rows i·s .. i·s + kH − 1 and columns j·s .. j·s + kW − 1, on the output. The
    output's colours span the finished output, so they do not change scale from step to step.

    Returns the Figure. Raises ValueError for inputs that are not 2-D, a stride below 1, a step outside
    0..H·W, or ax that is not three axes.
    """
    x, kernel, (sh, sw) = _check(x, kernel, stride)
    n = x.numel()
    if (
        not isinstance(step, (int, np.integer))
        or isinstance(step, bool)
        or not 0 <= step <= n
    ):
        raise ValueError(
            f"step must be an int from 0 (nothing stamped) to {n} (every pixel of the "
            f"{x.shape[0]} × {x.shape[1]} input), got {step!r}."
        )
    step = int(step)
    final = conv_transpose2d(x, kernel, (sh, sw))
    if ax is None:
        fig, axes = _figure(1, x, kernel, final.shape)
        ax_in, ax_k, ax_out = axes[0]
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) != 3:
            raise ValueError(
                f"ax must be None or three axes (input, kernel, output), got {len(axes)}."
            )
        ax_in, ax_k, ax_out = axes
        fig = ax_in.figure

    so_far = _after(x, kernel, (sh, sw), step)
    if step:
        i, j = divmod(step - 1, x.shape[1])
        value = _number(float(x[i, j]))
        in_title = f"input, pixel {step} of {n}\nx[{i},{j}] = {value}"
        out_title = f"output so far\nafter {step} of {n} pixels"
    else:
        in_title, out_title = (
            f"input\n{n} pixels to stamp",
            "output so far\nnothing stamped yet",
        )
    _grid(ax_in, to_numpy(x, np.float64), in_title, "Blues", *_range(x))
    _grid(
        ax_k,
        to_numpy(kernel, np.float64),
        f"kernel × {value}" if step else "kernel",
        "Greens",
        *_range(kernel),
    )
    _grid(
        ax_out,
        to_numpy(so_far, np.float64),
        out_title,
        "Oranges",
        *_range(final),
    )
    if step:
        _outline(ax_in, i, j, 1, 1)
        _outline(ax_out, i * sh, j * sw, kernel.shape[0], kernel.shape[1])
    if ax is None:
        fig.tight_layout()
    return fig


def plot_transposed_conv_steps(x, kernel, stride=1) -> Figure:
    """The static figure for the page: one row per input pixel, showing the output building up.

    x: (H, W), kernel: (kH, kW), stride: int or (rows, columns)  ->  a Figure with H·W rows of three
    axes (input, kernel, output so far), row t drawn by :func:`plot_transposed_conv_step` with step t + 1;
    the last row's output is the whole transposed convolution. Meant for worked examples: a 2 × 2 input
    gives 4 rows. Raises ValueError as :func:`plot_transposed_conv_step` does.
    """
    x, kernel, stride = _check(x, kernel, stride)
    final_shape = conv_transpose2d(x, kernel, stride).shape
    fig, axes = _figure(x.numel(), x, kernel, final_shape)
    for t, row in enumerate(axes, start=1):
        plot_transposed_conv_step(x, kernel, stride, t, ax=row)
    fig.tight_layout()
    return fig


# --- the interactive explorer --------------------------------------------------------------------


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _explorer(slider, render):
    """A VBox of ``slider`` and an Output area showing ``render(slider.value) -> (Figure, text)`` as a PNG.

    ``slider`` may also be a list of sliders: render then gets the tuple of their values. The picture is
    redrawn whenever a slider's value changes, and once now. Figures are off-screen ``Figure`` objects,
    never registered with pyplot, so nothing is left open.
    """
    import ipywidgets

    several = isinstance(slider, (list, tuple))
    sliders = list(slider) if several else [slider]
    output = ipywidgets.Output()

    def redraw(change=None) -> None:
        values = tuple(s.value for s in sliders)
        fig, text = render(values if several else values[0])
        output.outputs = (
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {"image/png": _png(fig), "text/plain": text},
            },
        )

    for s in sliders:
        s.observe(redraw, names="value")
    redraw()
    return ipywidgets.VBox([*sliders, output])


def transposed_conv_explorer(x, kernel, stride=1, step: int = 1):
    """An ipywidgets explorer: a "pixel" slider from 0 to H·W and the step it selects, redrawn as it moves.

    x: (H, W), kernel: (kH, kW), stride: int or (rows, columns), step: where the slider starts. Returns an
    ``ipywidgets.VBox`` whose children are the ``IntSlider`` and an ``Output`` area; moving the slider
    draws :func:`plot_transposed_conv_step` for its value and puts the picture (PNG) in the Output area,
    with a one-line text description. The figure is rendered off-screen and never registered with pyplot,
    so it works without a notebook front-end and leaves no stray figures behind. Needs ``ipywidgets``.

    Raises ValueError as :func:`plot_transposed_conv_step` does.
    """
    import ipywidgets

    x, kernel, stride = _check(x, kernel, stride)
    n = x.numel()
    final_shape = conv_transpose2d(x, kernel, stride).shape
    integer("step", step, 0, n)
    slider = ipywidgets.IntSlider(
        value=step,
        min=0,
        max=n,
        step=1,
        description="pixel",
        continuous_update=False,
    )

    def render(t: int) -> tuple[Figure, str]:
        widths, height = _widths(x, kernel, final_shape)
        fig = Figure(
            figsize=(0.45 * sum(widths) + 1.5, 0.45 * height + 1.1)
        )
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": widths})
        plot_transposed_conv_step(x, kernel, stride, t, ax=axes)
        fig.tight_layout()
        if t:
            i, j = divmod(t - 1, x.shape[1])
            text = f"pixel {t} of {n}: x[{i},{j}] stamps the kernel at output row {i * stride[0]}, column {j * stride[1]}"
        else:
            text = f"pixel 0 of {n}: nothing stamped yet"
        return fig, text

    return _explorer(slider, render)


# --- the denoising chapter: one noise level at a time --------------------------------------------


def _check_levels(levels) -> list[float]:
    levels = list(levels)
    if not levels:
        raise ValueError("levels must name at least one noise level.")
    return levels


@torch.no_grad()
def denoise_at(
    model, x: torch.Tensor, kind: str, level: float, seed: int = 0
):
    """Corrupt x at one level and let the model restore it.

    model: an autoencoder mapping (n, 1, 28, 28) to the same shape; x: (n, 1, 28, 28) clean images in
    [0, 1]; kind, level: as for :func:`aecourse.ops.corruptions.corrupt`. The noise comes from a CPU
    generator seeded with ``seed``, so every level (and every call) uses the same random numbers.
    Returns (noisy, restored, psnr_noisy, psnr_restored): the images on x's device and the PSNR of each
    set against x in dB (:func:`aecourse.ops.corruptions.psnr_of_set`, finite even where an image is
    left untouched).
    """
    model.eval()
    noisy = corrupt(
        x, kind, level, generator=torch.Generator().manual_seed(seed)
    )
    restored = model(noisy)
    return (
        noisy,
        restored,
        psnr_of_set(noisy, x).item(),
        psnr_of_set(restored, x).item(),
    )


def _image_rows(
    fig: Figure, rows: list[tuple[str, torch.Tensor]], size: float
) -> None:
    """Draw rows of grey images into fig: one row per (label, (n, 1, H, W) images), label on the left."""
    n = len(rows[0][1])
    draw_image_rows(
        np.asarray(fig.subplots(len(rows), n, squeeze=False)), rows, n
    )
    fig.set_size_inches(size * n + 1.8, size * len(rows) + 0.3)
    fig.tight_layout()


def _denoising_input(x, n: int) -> torch.Tensor:
    if (
        not isinstance(x, torch.Tensor)
        or x.dim() != 4
        or x.shape[1] != 1
        or len(x) == 0
    ):
        shape = (
            tuple(x.shape)
            if isinstance(x, torch.Tensor)
            else type(x).__name__
        )
        raise ValueError(
            f"x must be a batch of grey images (n, 1, H, W) with n ≥ 1, got {shape}."
        )
    return x[:n]


def plot_denoising(
    model,
    x: torch.Tensor,
    kind: str,
    levels,
    n: int = 8,
    seed: int = 0,
    size: float = 1.0,
) -> Figure:
    """The static figure: clean images, then for each level the corrupted images and the model's restorations.

    model: an autoencoder (n, 1, H, W) -> (n, 1, H, W); x: clean images (N, 1, H, W), the first n are
    shown; kind, levels: the corruption and its levels (ν or σ). Each row is labelled with the level and
    the PSNR of its n images as a set (:func:`denoise_at`). Returns the Figure (2·len(levels) + 1
    rows of n images).
    Raises ValueError for x that is not (N, 1, H, W), no levels, or a bad kind or level.
    """
    x = _denoising_input(x, n)
    rows = [("clean", x)]
    for level in _check_levels(levels):
        noisy, restored, p_noisy, p_restored = denoise_at(
            model, x, kind, level, seed
        )
        rows += [
            (f"{kind} {level:g}\n{p_noisy:.1f} dB", noisy),
            (f"restored\n{p_restored:.1f} dB", restored),
        ]
    fig = plt.figure()
    _image_rows(fig, rows, size)
    return fig


def denoising_explorer(
    model, x: torch.Tensor, kind: str, levels, n: int = 8, seed: int = 0
):
    """An ipywidgets explorer: a noise-level slider, and the clean, corrupted and restored images at that level.

    model, x, kind, levels, n, seed: as for :func:`plot_denoising`. Returns an ``ipywidgets.VBox`` of a
    ``SelectionSlider`` over ``levels`` and an ``Output`` area that shows the three rows (with the
    PSNR of the corrupted and restored images) as a PNG, redrawn off-screen when the slider moves.
    Raises ValueError as :func:`plot_denoising` does.
    """
    import ipywidgets

    x, levels = _denoising_input(x, n), _check_levels(levels)
    # fail now, not inside a callback, on a bad kind or level
    denoise_at(model, x[:1], kind, levels[0], seed)
    slider = ipywidgets.SelectionSlider(
        options=levels,
        value=levels[0],
        description=kind,
        continuous_update=False,
    )

    def render(level: float) -> tuple[Figure, str]:
        noisy, restored, p_noisy, p_restored = denoise_at(
            model, x, kind, level, seed
        )
        fig = Figure()
        _image_rows(
            fig,
            [
                ("clean", x),
                (f"corrupted\n{p_noisy:.1f} dB", noisy),
                (f"restored\n{p_restored:.1f} dB", restored),
            ],
            size=1.0,
        )
        return (
            fig,
            f"{kind} {level:g}: corrupted {p_noisy:.1f} dB, restored {p_restored:.1f} dB",
        )

    return _explorer(slider, render)


# --- the VAE chapter: a 2-D code, decoded as you move it -----------------------------------------


def latent_explorer(model, y=None, limit: float = 3.0):
    """An ipywidgets explorer: two sliders set a 2-D code (z₁, z₂) and the VAE's decoded image follows.

    model: a :class:`aecourse.models.vae.VAE` with a 2-D code; y: one label (int) for a conditional VAE. The
    sliders run from −limit to limit (3 prior standard deviations by default). Returns an ``ipywidgets.VBox``
    of the two ``FloatSlider``s and an ``Output`` area with the image (PNG) of sigmoid(decode(z)), redrawn
    off-screen when either slider moves, and the code as text. Raises ValueError for a code that is not 2-D
    or a limit that is not positive.
    """
    import ipywidgets

    if model.code_size != 2:
        raise ValueError(
            f"latent_explorer needs a VAE with a 2-D code, this one has {model.code_size}."
        )
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit}.")
    weight = next(model.parameters())
    with (
        torch.no_grad()
    ):  # fail now, not inside a callback, on a bad label
        model.decode(
            torch.zeros(1, 2, device=weight.device, dtype=weight.dtype), y
        )
    sliders = [
        ipywidgets.FloatSlider(
            value=0.0,
            min=-limit,
            max=limit,
            step=limit / 30,
            description=name,
            continuous_update=False,
        )
        for name in ("z₁", "z₂")
    ]

    def render(code: tuple[float, float]) -> tuple[Figure, str]:
        with torch.no_grad():
            z = torch.tensor(
                [code], device=weight.device, dtype=weight.dtype
            )
            image = torch.sigmoid(model.decode(z, y))
        fig = Figure(figsize=(2.4, 2.6))
        draw_image_rows(
            np.asarray(fig.subplots(1, 1, squeeze=False)),
            [("", image)],
            1,
        )
        text = f"z = ({code[0]:.2f}, {code[1]:.2f})"
        fig.axes[0].set_title(text, fontsize=9)
        fig.tight_layout()
        return fig, text

    return _explorer(sliders, render)
