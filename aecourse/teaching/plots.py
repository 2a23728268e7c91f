"""Figures that teach: image grids, originals vs reconstructions, loss curves, 2-D codes by label, ROC curves.

Every function takes tensors (on any device) or arrays. A function that makes a figure returns the
matplotlib Figure, so a notebook shows it and a test can inspect it; one whose first argument is ``ax`` (or
``axes``) draws on axes the caller made, to put several panels in one figure.

The course's one palette lives here: :data:`COLOURS`, the eight colours of Okabe & Ito, which stay apart
for readers with any common form of colour blindness. Importing this module makes them matplotlib's colour
cycle (:func:`use_palette`), so every chapter, which imports it in its set-up cell, draws in them.
"""

from __future__ import annotations

import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib import patheffects
from matplotlib.colors import to_rgba

from aecourse._args import to_numpy
from aecourse.models.autoencoder import check_sizes

# Okabe & Ito (2008), "Color Universal Design": eight colours told apart with protanopia, deuteranopia
# and tritanopia. Named by what a reader sees (their names: vermillion for red, bluish green, reddish
# purple); in this order the colour cycle, blue, orange, green and red first, as in matplotlib's default
# cycle, so "C0".."C3" keep their hues.
COLOURS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
PALETTE = tuple(COLOURS.values())
# the marker of class k in a scatter of codes: its colour repeats every 8 classes, its marker does not
MARKERS = ("o", "^", "s", "D")


def use_palette() -> None:
    """Make :data:`PALETTE` matplotlib's colour cycle (``rcParams["axes.prop_cycle"]``).

    Lines, bars and points drawn without a colour of their own then take the palette's colours in order.
    Called when this module is imported; call it again after ``plt.rcdefaults()`` or another style.
    """
    plt.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)


use_palette()


def class_style(k: int) -> tuple[str, str]:
    """(colour, marker) of class k in a scatter: colour k of :data:`PALETTE`, repeating every 8 classes
    with the next of :data:`MARKERS`, so up to 32 classes never share both. Raises ValueError for k < 0."""
    if not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(
            f"class_style needs a class index >= 0, got {k!r}."
        )
    k = int(k)
    return PALETTE[k % len(PALETTE)], MARKERS[
        (k // len(PALETTE)) % len(MARKERS)
    ]


def _images(x) -> np.ndarray:
    """(N, 1, H, W), (N, H, W) or (N, H*W) square images -> (N, H, W) numpy array of floats."""
    x = to_numpy(x, float)
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side == x.shape[1]:
            return x.reshape(len(x), side, side)
    raise ValueError(
        f"Expected images of shape (N, 1, H, W), (N, H, W) or (N, H*W) with square H*W; got {x.shape}."
    )


def show_images(
    x,
    ncols: int = 10,
    titles=None,
    cmap: str = "gray",
    size: float = 1.2,
    vmin=0.0,
    vmax=1.0,
):
    """A grid of grey images. x: (N, 1, H, W), (N, H, W) or (N, H*W). vmin/vmax: None to scale each image."""
    imgs = _images(x)
    n = len(imgs)
    if n == 0 or ncols < 1:
        raise ValueError(
            f"show_images needs at least one image and ncols >= 1; got {n} images, ncols={ncols}."
        )
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def show_reconstructions(x, rows: dict, n: int = 10, size: float = 1.2):
    """Originals in the first row, then one row per model. x: (N, ...) images; rows: {label: x̂ like x}."""
    return show_image_rows(
        [("original", x), *rows.items()], n=n, size=size
    )


def show_image_rows(
    rows, n: int = 10, size: float = 1.2, scale_each: bool = False
):
    """Rows of grey images, each row labelled on its left: rows is a list of (label, images (N, ...)).

    Images are drawn in [0, 1], or, with scale_each, each from its own minimum (black) to its maximum
    (white): the way to look at weights, whose range is anything.
    """
    fig, axes = plt.subplots(
        len(rows),
        n,
        figsize=(size * n, size * len(rows) + 0.2),
        squeeze=False,
    )
    draw_image_rows(axes, rows, n, scale_each=scale_each)
    fig.tight_layout()
    return fig


def draw_image_rows(axes, rows, n: int, scale_each: bool = False) -> None:
    """Fill a (len(rows), n) grid of axes with rows of grey images in [0, 1], each labelled on its left.

    rows: a list of (label, images) with images (N, ...) as for :func:`show_images`; the first n of each
    are drawn, and a row with fewer leaves its last axes empty. scale_each: map each image's own range to
    black..white instead. Used by :func:`show_image_rows` and by the off-screen figures of
    :mod:`aecourse.teaching.widgets`.
    """
    for r, (label, imgs) in enumerate(rows):
        imgs = _images(imgs[:n])
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(imgs):
                low, high = (
                    (imgs[c].min(), imgs[c].max())
                    if scale_each
                    else (0, 1)
                )
                ax.imshow(imgs[c], cmap="gray", vmin=low, vmax=high)
        axes[r, 0].set_ylabel(
            label, rotation=0, ha="right", va="center", fontsize=9
        )


def plot_history(
    history,
    title: str = "",
    ylabel: str = "loss per example",
    logy: bool = False,
):
    """Training (and validation, test) loss per epoch from :class:`aecourse.training.History`.

    ylabel: the loss and its unit, e.g. "−ELBO (nats per image)" or "squared error per image": the
    default names no unit, since ``fit`` reports whatever loss it was given.
    """
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = np.arange(1, len(history.train) + 1)
    ax.plot(epochs, history.train, "o-", label="train", ms=3)
    for split, style in (("valid", "^:"), ("test", "s--")):
        if getattr(history, split):
            ax.plot(
                epochs,
                getattr(history, split),
                style,
                label="validation" if split == "valid" else split,
                ms=3,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_codes(z, labels, title: str = "", classes=None, s: float = 3):
    """A figure with the scatter of 2-D codes coloured by label: :func:`draw_codes` on a new axes."""
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    draw_codes(ax, z, labels, title=title, classes=classes, s=s)
    fig.tight_layout()
    return fig


def draw_codes(
    ax,
    z,
    labels,
    title: str = "",
    classes=None,
    s: float = 3,
    legend: bool = True,
    label_classes: bool = True,
) -> None:
    """Scatter 2-D codes on ``ax``, one colour per label. z: (N, 2); labels: (N,) integers >= 0.

    classes: names indexed by label for the legend (default the labels themselves). Label k is drawn in
    :func:`class_style` k: colour k of the course's palette, with a new marker after every 8 classes.
    label_classes: also write each class's name at the median of its codes (in black on a white halo), so
    that no reader has to match colours to the legend, and ten classes in eight colours stay apart.
    legend: False to leave the legend out.
    """
    z = to_numpy(z)
    labels = to_numpy(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(
            f"draw_codes needs 2-D codes of shape (N, 2); got {z.shape}."
        )
    if len(labels) != len(z):
        raise ValueError(
            f"Need one label per code: {len(z)} codes, {len(labels)} labels."
        )
    for k in np.unique(labels):
        pts = z[labels == k]
        name = classes[k] if classes is not None else str(k)
        colour, marker = class_style(int(k))
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=s,
            color=colour,
            marker=marker,
            label=name,
            alpha=0.7,
        )
        if label_classes:
            # the halo keeps the name legible on top of any colour of point
            ax.text(
                *np.median(pts, axis=0),
                name,
                fontsize=9,
                fontweight="bold",
                ha="center",
                va="center",
                path_effects=[
                    patheffects.withStroke(
                        linewidth=2.5, foreground="white"
                    )
                ],
            )
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    if legend:
        ax.legend(markerscale=4, fontsize=8, loc="best", framealpha=0.8)


def draw_roc(ax, curves: dict, title: str = "") -> None:
    """ROC curves on ``ax``, one line per detector, beside the chance diagonal.

    curves: {name: (fpr, tpr, auroc)}, fpr and tpr (T,) arrays as ``sklearn.metrics.roc_curve`` returns
    them and auroc a number; each line is labelled "name (AUROC 0.97)". Raises ValueError for no curve or
    fpr and tpr of different lengths.
    """
    if not curves:
        raise ValueError(
            "draw_roc needs at least one curve {name: (fpr, tpr, auroc)}."
        )
    for name, (fpr, tpr, auroc) in curves.items():
        fpr = to_numpy(fpr)
        tpr = to_numpy(tpr)
        if fpr.shape != tpr.shape or fpr.ndim != 1:
            raise ValueError(
                f"Curve {name!r}: fpr and tpr must be 1-D of the same length, got {fpr.shape} and "
                f"{tpr.shape}."
            )
        ax.plot(fpr, tpr, label=f"{name} (AUROC {float(auroc):.2f})")
    ax.plot([0, 1], [0, 1], "--", color="0.5", label="chance (0.50)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)


def draw_hourglass(sizes, labels=None, title: str = ""):
    """A diagram of an autoencoder's layer widths: encoder sizes [d, ..., k], mirrored by the decoder.

    One bar per layer, of height 0.15 + 0.85·√(width / largest width): square-root scaled, so that a
    small code stays visible beside a wide input (to scale, 32 units beside 784 would be 25 times shorter);
    each bar is labelled with its true width.
    """
    sizes = check_sizes(sizes)
    sizes = sizes + sizes[-2::-1]
    n = len(sizes)
    code = n // 2
    labels = labels or (
        ["input x"]
        + [""] * (code - 1)
        + ["code z"]
        + [""] * (code - 1)
        + ["output x̂"]
    )
    fig, ax = plt.subplots(figsize=(1.2 * n + 1, 3))
    top = max(sizes)
    for i, s in enumerate(sizes):
        # sqrt keeps small codes visible next to 784 inputs
        h = 0.15 + 0.85 * np.sqrt(s / top)
        colour = COLOURS[
            "orange" if i == code else ("blue" if i < code else "green")
        ]
        ax.add_patch(
            plt.Rectangle(
                (i - 0.2, -h / 2), 0.4, h, color=colour, alpha=0.8
            )
        )
        ax.text(
            i, h / 2 + 0.05, str(s), ha="center", va="bottom", fontsize=9
        )
        ax.text(i, -0.62, labels[i], ha="center", va="top", fontsize=9)
        if i + 1 < n:
            ax.annotate(
                "",
                xy=(i + 0.75, 0),
                xytext=(i + 0.25, 0),
                arrowprops=dict(arrowstyle="->"),
            )
    # halves labelled above the tallest bar (heights reach 1, so bar tops and their sizes stay below 0.6)
    ax.text(
        code / 2,
        0.72,
        "encoder $\\mathcal{E}$",
        ha="center",
        fontsize=10,
        color=COLOURS["blue"],
    )
    ax.text(
        code + code / 2,
        0.72,
        "decoder $\\mathcal{D}$",
        ha="center",
        fontsize=10,
        color=COLOURS["green"],
    )
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(-0.8, 0.85)
    ax.axis("off")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def show_code_table(ax, code, title: str = "", fontsize: float = 8):
    """Heat-map of an (n, h) code table on ``ax``, each cell labelled with its value; one row per input."""
    c = to_numpy(code)
    if c.ndim != 2:
        raise ValueError(
            f"show_code_table needs codes of shape (n, h); got {c.shape}."
        )
    ax.imshow(c, cmap="coolwarm", vmin=0, vmax=1, aspect="auto")
    for (i, k), v in np.ndenumerate(c):
        ax.text(
            k, i, f"{v:.2f}", ha="center", va="center", fontsize=fontsize
        )
    ax.set_xticks(
        range(c.shape[1]), [f"$z_{k + 1}$" for k in range(c.shape[1])]
    )
    ax.set_yticks(
        range(c.shape[0]),
        [f"input {i + 1}" for i in range(c.shape[0])],
        fontsize=fontsize,
    )
    ax.set_title(title, fontsize=9)


def show_codes_in_cube(ax, code, title: str = ""):
    """(n, 3) codes as red points in the unit cube on a 3-D ``ax``, their convex hull shaded orange."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    from scipy.spatial import ConvexHull

    c = to_numpy(code)
    if c.ndim != 2 or c.shape[1] != 3:
        raise ValueError(
            f"show_codes_in_cube needs codes of shape (n, 3); got {c.shape}."
        )
    for a, b in itertools.combinations(
        itertools.product((0, 1), repeat=3), 2
    ):
        if (
            sum(u != v for u, v in zip(a, b)) == 1
        ):  # an edge joins two corners that differ in one bit
            ax.plot(*zip(a, b), color="0.55", lw=0.8)
    faces = c[ConvexHull(c).simplices]
    ax.add_collection3d(
        Poly3DCollection(
            faces,
            facecolor=to_rgba(COLOURS["orange"], 0.12),
            edgecolor=to_rgba(COLOURS["orange"], 0.35),
            lw=0.5,
        )
    )
    ax.scatter(*c.T, s=30, color=COLOURS["red"], depthshade=False)
    for i, p in enumerate(c):
        ax.text(*p, f" {i + 1}", fontsize=8)
    (
        ax.set_xlabel("$z_1$"),
        ax.set_ylabel("$z_2$"),
        ax.set_zlabel("$z_3$"),
        ax.grid(False),
    )
    ax.set_title(title, fontsize=9)


def show_manifold(images, z, title: str = "", size: float = 6.0):
    """A VAE's image manifold as one picture: n × n decoded images side by side, each at its 2-D code.

    images: (n², ...) square images as for :func:`show_images`, in [0, 1], row by row; z: their codes
    (n², 2), z₁ the same down each column and z₂ the same along each row, as
    :func:`aecourse.models.vae.manifold_grid` returns them. The ticks show the codes (about 7 per axis).
    """
    imgs = _images(images)
    z = to_numpy(z)
    n = math.isqrt(len(imgs))
    if n * n != len(imgs) or z.shape != (len(imgs), 2):
        raise ValueError(
            f"show_manifold needs n² images and their n² codes (n², 2); got {len(imgs)} images "
            f"and codes of shape {z.shape}."
        )
    h, w = imgs.shape[1:]
    # row i, column j: image i·n + j
    tiled = (
        imgs.reshape(n, n, h, w)
        .transpose(0, 2, 1, 3)
        .reshape(n * h, n * w)
    )
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(tiled, cmap="gray", vmin=0, vmax=1)
    ticks = np.arange(0, n, max(1, n // 7))
    ax.set_xticks(
        ticks * w + (w - 1) / 2, [f"{v:.2f}" for v in z[ticks, 0]]
    )
    ax.set_yticks(
        ticks * h + (h - 1) / 2, [f"{v:.2f}" for v in z[ticks * n, 1]]
    )
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def show_attention(examples, ncols: int = 2, size: float = 0.42):
    """Attention heat-maps, one panel per sentence: which source token each output token looked at.

    examples: (source tokens, output tokens, weights) triples, weights (len(output), len(source)) with
    rows summing to 1, as :func:`aecourse.evaluation.decoding.attention_examples` returns them.
    """
    examples = list(examples)
    if not examples:
        raise ValueError(
            "show_attention needs at least one (source, output, weights) example."
        )
    for source, output, weights in examples:
        if tuple(np.shape(weights)) != (len(output), len(source)):
            raise ValueError(
                f"weights must be (len(output), len(source)) = ({len(output)}, {len(source)}), "
                f"got {tuple(np.shape(weights))}."
            )
    ncols = min(ncols, len(examples))
    nrows = math.ceil(len(examples) / ncols)
    width = max(len(s) for s, _, _ in examples) * size + 1.5
    height = max(len(o) for _, o, _ in examples) * size + 1.2
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(ncols * width, nrows * height),
        squeeze=False,
    )
    for ax, (source, output, weights) in zip(axes.flat, examples):
        w = to_numpy(weights)
        ax.imshow(w, cmap="Greys", vmin=0, vmax=1)
        ax.set_xticks(
            range(len(source)),
            source,
            rotation=60,
            ha="right",
            fontsize=8,
        )
        ax.set_yticks(range(len(output)), output, fontsize=8)
        ax.set_xlabel("source (read by the encoder)", fontsize=8)
        ax.set_ylabel("output (written by the decoder)", fontsize=8)
    for ax in axes.flat[len(examples) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
