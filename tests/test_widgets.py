"""aecourse.teaching.widgets: the steps of a transposed convolution by hand and against PyTorch, their figures and the widget."""

from __future__ import annotations

import base64

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from aecourse.teaching import widgets
from aecourse.teaching.widgets import (
    plot_transposed_conv_step,
    plot_transposed_conv_steps,
    transposed_conv_explorer,
    transposed_conv_steps,
)

X = [[1, 2], [5, 9]]
K = [[3, 4], [1, 1]]
FULL = [[3, 4, 6, 8], [1, 1, 2, 2], [15, 20, 27, 36], [5, 5, 9, 9]]


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def outlines(ax) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of every outline rectangle drawn on ax."""
    return [
        (*r.get_xy(), r.get_width(), r.get_height())
        for r in ax.patches
        if isinstance(r, Rectangle)
    ]


# --- the steps -----------------------------------------------------------------------------------


def test_worked_example_step_by_step():
    steps = [s.tolist() for s in transposed_conv_steps(X, K, 2)]
    assert len(steps) == 4
    # 1 × kernel, top left
    assert steps[0] == [
        [3, 4, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]
    # + 2 × kernel, top right
    assert steps[1] == [
        [3, 4, 6, 8],
        [1, 1, 2, 2],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]
    # + 5 × kernel
    assert steps[2] == [
        [3, 4, 6, 8],
        [1, 1, 2, 2],
        [15, 20, 0, 0],
        [5, 5, 0, 0],
    ]
    assert steps[3] == FULL


def test_overlapping_stamps_add_up():
    # stride 1 with a 2 × 2 kernel of ones: the centre cell is reached by all four stamps
    steps = transposed_conv_steps(torch.ones(2, 2), torch.ones(2, 2), 1)
    assert [float(s[1, 1]) for s in steps] == [1, 2, 3, 4]
    assert steps[-1].tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_last_step_matches_pytorch(stride, k):
    x, kernel = (
        torch.randn(3, 4, dtype=torch.float64),
        torch.randn(k, k + 1 if k < 4 else k, dtype=torch.float64),
    )
    steps = transposed_conv_steps(x, kernel, stride)
    expected = F.conv_transpose2d(
        x[None, None], kernel[None, None], stride=stride
    )[0, 0]
    assert len(steps) == 12
    torch.testing.assert_close(steps[-1], expected)
    # each step adds exactly one pixel's stamp: x[i, j] · kernel at (i·s, j·s)
    for t in range(1, 12):
        i, j = divmod(t, 4)
        diff = steps[t] - steps[t - 1]
        stamp = torch.zeros_like(diff)
        stamp[
            i * stride : i * stride + kernel.shape[0],
            j * stride : j * stride + kernel.shape[1],
        ] = x[i, j] * kernel
        torch.testing.assert_close(diff, stamp)


def test_rectangular_stride_pair():
    x, kernel = torch.randn(2, 3), torch.randn(3, 2)
    expected = F.conv_transpose2d(
        x[None, None], kernel[None, None], stride=(2, 3)
    )[0, 0]
    torch.testing.assert_close(
        transposed_conv_steps(x, kernel, (2, 3))[-1], expected
    )


# --- the figures ---------------------------------------------------------------------------------


def test_plot_step_draws_numbered_grids_and_outlines():
    fig = plot_transposed_conv_step(X, K, 2, step=3)
    assert isinstance(fig, Figure)
    ax_in, ax_k, ax_out = fig.axes
    assert len(fig.axes) == 3
    assert texts(ax_in) == ["1", "2", "5", "9"]
    assert texts(ax_k) == ["3", "4", "1", "1"]
    assert texts(ax_out) == [
        "3",
        "4",
        "6",
        "8",
        "1",
        "1",
        "2",
        "2",
        "15",
        "20",
        "0",
        "0",
        "5",
        "5",
        "0",
        "0",
    ]
    # pixel 3 is x[1, 0] = 5; its stamp covers output rows 2-3, columns 0-1
    assert outlines(ax_in) == [(-0.5, 0.5, 1, 1)]
    assert outlines(ax_out) == [(-0.5, 1.5, 2, 2)]
    assert "x[1,0] = 5" in ax_in.get_title()
    assert ax_k.get_title() == "kernel × 5"
    np.testing.assert_array_equal(
        ax_out.get_images()[0].get_array(),
        transposed_conv_steps(X, K, 2)[2].numpy(),
    )


def test_plot_step_zero_is_empty_and_unmarked():
    fig = plot_transposed_conv_step(X, K, 2, step=0)
    ax_in, _, ax_out = fig.axes
    assert texts(ax_out) == ["0"] * 16
    assert outlines(ax_in) == outlines(ax_out) == []


def test_plot_step_into_given_axes():
    fig, axes = plt.subplots(2, 3)
    returned = plot_transposed_conv_step(X, K, 2, step=4, ax=axes[1])
    assert returned is fig
    assert [len(ax.texts) for ax in axes.flat] == [0, 0, 0, 4, 4, 16]
    assert texts(axes[1, 2]) == [str(v) for row in FULL for v in row]


def test_plot_steps_one_row_per_pixel():
    fig = plot_transposed_conv_steps(X, K, 2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * 3
    assert sum(len(ax.texts) for ax in fig.axes) == 4 * (4 + 4 + 16)
    outputs = fig.axes[2::3]
    assert (
        texts(outputs[0])
        == ["3", "4", "0", "0", "1", "1", "0", "0"] + ["0"] * 8
    )
    assert texts(outputs[-1]) == [str(v) for row in FULL for v in row]
    # the current pixel moves in reading order
    assert [outlines(ax)[0][:2] for ax in fig.axes[0::3]] == [
        (-0.5, -0.5),
        (0.5, -0.5),
        (-0.5, 0.5),
        (0.5, 0.5),
    ]


def test_non_integer_values_are_labelled_with_decimals():
    fig = plot_transposed_conv_step([[0.5]], [[1.25]], 1, step=1)
    assert texts(fig.axes[2]) == ["0.62"]  # 0.625 to 2 decimals


# --- the widget ----------------------------------------------------------------------------------


def test_explorer_slider_range_and_redraw(monkeypatch):
    drawn = []
    real = widgets.plot_transposed_conv_step

    def spy(x, kernel, stride, step, ax=None):
        drawn.append(step)
        return real(x, kernel, stride, step, ax=ax)

    monkeypatch.setattr(widgets, "plot_transposed_conv_step", spy)
    n_figures = len(plt.get_fignums())
    w = transposed_conv_explorer(X, K, 2)
    slider, output = w.children
    assert (slider.description, slider.min, slider.max, slider.value) == (
        "pixel",
        0,
        4,
        1,
    )
    assert drawn == [1]
    first = output.outputs[0]["data"]["image/png"]
    assert base64.b64decode(first)[:8] == b"\x89PNG\r\n\x1a\n"

    slider.value = 3
    assert drawn == [1, 3]
    (shown,) = output.outputs
    assert shown["output_type"] == "display_data"
    assert shown["data"]["text/plain"].startswith("pixel 3 of 4: x[1,0]")
    assert shown["data"]["image/png"] != first
    slider.value = 0
    assert drawn == [1, 3, 0]
    assert (
        output.outputs[0]["data"]["text/plain"]
        == "pixel 0 of 4: nothing stamped yet"
    )
    # nothing left open in pyplot
    assert len(plt.get_fignums()) == n_figures


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, kernel",
    [
        (torch.ones(1, 2, 2), K),
        (X, torch.ones(2)),
        ([1, 2], K),
        (torch.ones(0, 2), K),
    ],
)
def test_non_2d_or_empty_inputs_are_refused(x, kernel):
    with pytest.raises(ValueError, match="must (be 2-D|not be empty)"):
        transposed_conv_steps(x, kernel, 1)
    with pytest.raises(ValueError, match="must (be 2-D|not be empty)"):
        plot_transposed_conv_step(x, kernel, 1, 1)
    with pytest.raises(ValueError, match="must (be 2-D|not be empty)"):
        transposed_conv_explorer(x, kernel, 1)


@pytest.mark.parametrize("stride", [0, -1, (1, 0), 1.5])
def test_bad_stride_is_refused(stride):
    for call in (
        transposed_conv_steps,
        plot_transposed_conv_steps,
        transposed_conv_explorer,
    ):
        with pytest.raises(ValueError, match="stride"):
            call(X, K, stride)


@pytest.mark.parametrize("step", [-1, 5, 2.0, True])
def test_step_out_of_range_is_refused(step):
    with pytest.raises(
        ValueError, match=r"step must be an int from 0 .* to 4"
    ):
        plot_transposed_conv_step(X, K, 2, step)
    with pytest.raises(
        ValueError,
        match=rf"step must be an integer from 0 to 4, got {step!r}",
    ):
        transposed_conv_explorer(X, K, 2, step=step)


def test_ax_must_be_three_axes():
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="three axes"):
        plot_transposed_conv_step(X, K, 2, 1, ax=axes)


def test_outline_follows_each_stride():
    # stride (2, 3): pixel 5 of a 2 × 3 input is x[1, 1], stamped at output row 2, column 3
    fig = plot_transposed_conv_step(
        torch.ones(2, 3), torch.ones(2, 2), (2, 3), step=5
    )
    assert outlines(fig.axes[2]) == [(2.5, 1.5, 2, 2)]


# --- the denoising chapter -----------------------------------------------------------------------


class Halve(torch.nn.Module):
    """A stand-in 'denoiser' whose output is easy to predict: x̂ = x̃ / 2."""

    def forward(self, x):
        return x / 2


def clean_images(n=5):
    return torch.rand(
        n, 1, 28, 28, generator=torch.Generator().manual_seed(0)
    )


def test_denoise_at_uses_the_seeded_corruption_and_reports_the_psnr_of_the_set():
    from aecourse.ops.corruptions import mask, psnr_of_set

    x = clean_images()
    noisy, restored, p_noisy, p_restored = widgets.denoise_at(
        Halve(), x, "mask", 0.5, seed=3
    )
    assert torch.equal(
        noisy, mask(x, 0.5, generator=torch.Generator().manual_seed(3))
    )
    assert torch.equal(restored, noisy / 2)
    assert p_noisy == pytest.approx(psnr_of_set(noisy, x).item())
    assert p_restored == pytest.approx(psnr_of_set(noisy / 2, x).item())
    again = widgets.denoise_at(Halve(), x, "mask", 0.5, seed=3)
    assert torch.equal(again[0], noisy)


def test_plot_denoising_has_a_clean_row_and_two_rows_per_level():
    fig = widgets.plot_denoising(
        Halve(), clean_images(12), "gaussian", [0.1, 0.5], n=4
    )
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert len(fig.axes) == 5 * 4 and len(labels) == 5
    assert (
        labels[0] == "clean"
        and labels[1].startswith("gaussian 0.1\n")
        and labels[3].startswith("gaussian 0.5\n")
    )
    assert labels[2].startswith("restored\n") and labels[1].endswith(
        " dB"
    )
    # More noise, lower PSNR of the corrupted images.
    db = [
        float(label.split("\n")[1].split()[0]) for label in labels[1::2]
    ]
    assert db[0] > db[1]
    plt.close(fig)


def test_denoising_explorer_redraws_for_each_level():
    n_figures = len(plt.get_fignums())
    w = widgets.denoising_explorer(
        Halve(), clean_images(), "salt_and_pepper", [0.1, 0.3], n=3
    )
    slider, output = w.children
    assert list(slider.options) == [0.1, 0.3] and slider.value == 0.1
    first = output.outputs[0]["data"]
    assert first["text/plain"].startswith(
        "salt_and_pepper 0.1: corrupted "
    )
    assert (
        base64.b64decode(first["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    )
    slider.value = 0.3
    assert output.outputs[0]["data"]["text/plain"].startswith(
        "salt_and_pepper 0.3: corrupted "
    )
    assert output.outputs[0]["data"]["image/png"] != first["image/png"]
    assert len(plt.get_fignums()) == n_figures


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=torch.rand(3, 28, 28)), "grey images"),
        (dict(levels=[]), "at least one noise level"),
        (dict(kind="blur"), "Unknown corruption"),
        (
            dict(levels=[1.5]),
            "nu must be a number in \\[0, 1\\], got 1\\.5",
        ),
    ],
)
def test_denoising_figures_refuse_bad_input(kwargs, message):
    args = (
        dict(model=Halve(), x=clean_images(), kind="mask", levels=[0.2])
        | kwargs
    )
    with pytest.raises(ValueError, match=message):
        widgets.plot_denoising(**args)
    with pytest.raises(ValueError, match=message):
        widgets.denoising_explorer(**args)
    plt.close("all")


# --- the VAE chapter -----------------------------------------------------------------------------


def test_latent_explorer_decodes_the_code_the_sliders_set():
    from aecourse.models.vae import VAE, ConditionalVAE

    decoded = []

    class Spy(VAE):
        def decode(self, z, y=None):
            decoded.append(z.clone())
            return super().decode(z, y)

    n_figures = len(plt.get_fignums())
    w = widgets.latent_explorer(Spy([16, 8, 2]), limit=2.0)
    z1, z2, output = w.children
    assert (z1.min, z1.max, z2.min, z2.max, z1.value, z2.value) == (
        -2.0,
        2.0,
        -2.0,
        2.0,
        0.0,
        0.0,
    )
    first = output.outputs[0]["data"]
    assert first["text/plain"] == "z = (0.00, 0.00)"
    assert (
        base64.b64decode(first["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    )
    z1.value = 1.5
    z2.value = -0.5
    assert torch.equal(
        decoded[-2], torch.tensor([[1.5, 0.0]])
    ) and torch.equal(decoded[-1], torch.tensor([[1.5, -0.5]]))
    assert output.outputs[0]["data"]["text/plain"] == "z = (1.50, -0.50)"
    assert output.outputs[0]["data"]["image/png"] != first["image/png"]
    assert len(plt.get_fignums()) == n_figures
    conditional = widgets.latent_explorer(
        ConditionalVAE([16, 8, 2], n_classes=3), y=2
    )
    assert (
        conditional.children[2].outputs[0]["data"]["text/plain"]
        == "z = (0.00, 0.00)"
    )


def test_latent_explorer_refuses_bad_input():
    from aecourse.models.vae import VAE, ConditionalVAE

    with pytest.raises(
        ValueError, match="needs a VAE with a 2-D code, this one has 3"
    ):
        widgets.latent_explorer(VAE([16, 3]))
    with pytest.raises(ValueError, match="limit must be positive"):
        widgets.latent_explorer(VAE([16, 2]), limit=0)
    with pytest.raises(ValueError, match="needs labels y"):
        widgets.latent_explorer(ConditionalVAE([16, 2], n_classes=3))
