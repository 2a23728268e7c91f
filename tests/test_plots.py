"""aecourse.teaching.plots: each function returns a Figure with the right axes showing the given data, or a clear error."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from aecourse.teaching import plots
from aecourse.teaching.plots import (
    draw_codes,
    draw_hourglass,
    draw_roc,
    plot_codes,
    plot_history,
    show_image_rows,
    show_images,
    show_reconstructions,
)
from aecourse.training import History


def shown(ax) -> np.ndarray:
    """The array an axes displays with imshow."""
    (image,) = ax.get_images()
    return np.asarray(image.get_array())


@pytest.fixture
def images():
    return torch.rand(7, 1, 8, 8)


def test_show_images_grid_and_pixels(images):
    fig = show_images(images, ncols=3, titles=list("abcdefg"))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9  # 3 rows of 3, two left empty
    with_images = [ax for ax in fig.axes if ax.get_images()]
    assert len(with_images) == 7
    for i, ax in enumerate(with_images):
        np.testing.assert_allclose(
            shown(ax), images[i, 0].numpy(), rtol=1e-6
        )
        assert ax.get_title() == "abcdefg"[i]
    assert shown(fig.axes[0]).shape == (8, 8)
    assert fig.axes[0].get_images()[0].get_clim() == (0.0, 1.0)


@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (5, 8, 8), (5, 64)])
def test_show_images_accepts_every_image_layout(shape):
    x = torch.rand(*shape)
    fig = show_images(x)
    assert len(fig.axes) == 5  # ncols = min(10, N): one row
    np.testing.assert_allclose(
        shown(fig.axes[2]), x.reshape(5, 8, 8)[2].numpy(), rtol=1e-6
    )


def test_show_images_takes_numpy_and_any_device_dtype():
    fig = show_images(np.zeros((3, 4, 4)))
    assert len(fig.axes) == 3
    fig = show_images(
        torch.ones(2, 16, dtype=torch.float64, requires_grad=True)
    )
    np.testing.assert_array_equal(shown(fig.axes[1]), np.ones((4, 4)))


@pytest.mark.parametrize(
    "shape", [(5, 3, 8, 8), (5, 10), (64,), (2, 1, 1, 8, 8)]
)
def test_show_images_refuses_bad_shapes(shape):
    with pytest.raises(
        ValueError,
        match=r"Expected images of shape \(N, 1, H, W\), \(N, H, W\) or \(N, H\*W\)",
    ):
        show_images(torch.rand(*shape))


def test_show_reconstructions_rows_and_labels(images):
    a, b = torch.zeros_like(images), torch.ones(7, 64)
    fig = show_reconstructions(images, {"zeros": a, "ones": b}, n=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 4
    assert [fig.axes[4 * r].get_ylabel() for r in range(3)] == [
        "original",
        "zeros",
        "ones",
    ]
    np.testing.assert_allclose(
        shown(fig.axes[3]), images[3, 0].numpy(), rtol=1e-6
    )
    np.testing.assert_array_equal(
        shown(fig.axes[4 + 2]), np.zeros((8, 8))
    )
    np.testing.assert_array_equal(shown(fig.axes[8 + 1]), np.ones((8, 8)))


def test_show_reconstructions_with_fewer_images_than_columns():
    fig = show_reconstructions(torch.rand(2, 1, 4, 4), {}, n=5)
    assert len(fig.axes) == 5
    assert sum(bool(ax.get_images()) for ax in fig.axes) == 2


def test_show_reconstructions_refuses_bad_shapes(images):
    with pytest.raises(ValueError, match="Expected images of shape"):
        show_reconstructions(images, {"rgb": torch.rand(7, 3, 8, 8)}, n=3)


def test_show_image_rows_can_scale_each_image_to_its_own_range():
    # two 2×2 "filters"
    weights = torch.tensor([[-2.0, 0.0, 2.0, 4.0], [0.1, 0.2, 0.3, 0.4]])
    fig = show_image_rows([("filters", weights)], n=2, scale_each=True)
    assert fig.axes[0].get_ylabel() == "filters"
    for ax, w in zip(fig.axes, weights):
        image = ax.get_images()[0]
        assert image.get_clim() == pytest.approx(
            (w.min().item(), w.max().item())
        )
    plain = show_image_rows([("filters", weights)], n=2)
    assert plain.axes[0].get_images()[0].get_clim() == (0, 1)


def test_plot_history_draws_train_and_test():
    history = History(train=[3.0, 2.0, 1.5], test=[3.5, 2.5, 2.0])
    fig = plot_history(history, title="t", logy=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    train, test = ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3] and list(
        train.get_ydata()
    ) == [3.0, 2.0, 1.5]
    assert list(test.get_ydata()) == [3.5, 2.5, 2.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "train",
        "test",
    ]
    assert (
        ax.get_yscale() == "log"
        and ax.get_title() == "t"
        and ax.get_xlabel() == "epoch"
    )


def test_plot_history_draws_the_validation_loss_too():
    fig = plot_history(
        History(train=[3.0, 2.0], valid=[3.2, 2.4], test=[3.5, 2.5])
    )
    ax = fig.axes[0]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [
        [3.0, 2.0],
        [3.2, 2.4],
        [3.5, 2.5],
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "train",
        "validation",
        "test",
    ]


def test_plot_history_without_test():
    fig = plot_history(History(train=[1.0, 0.5]))
    assert (
        len(fig.axes[0].get_lines()) == 1
        and fig.axes[0].get_yscale() == "linear"
    )


def test_plot_codes_one_scatter_per_label():
    z = torch.tensor(
        [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0], [0.5, 0.5]]
    )
    labels = torch.tensor([2, 0, 2, 1, 0])
    fig = plot_codes(
        z, labels, classes=["zero", "one", "two"], title="codes"
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "zero",
        "one",
        "two",
    ]
    points = {
        k: ax.collections[i].get_offsets()
        for i, k in enumerate([0, 1, 2])
    }
    np.testing.assert_array_equal(points[2], [[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(points[1], [[3.0, 1.0]])
    fig = plot_codes(z.numpy(), labels.numpy())
    assert [
        t.get_text() for t in fig.axes[0].get_legend().get_texts()
    ] == ["0", "1", "2"]


def test_plot_codes_refuses_bad_shapes():
    with pytest.raises(
        ValueError, match=r"2-D codes of shape \(N, 2\); got \(4, 3\)"
    ):
        plot_codes(torch.rand(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(N, 2\); got \(4,\)"):
        plot_codes(torch.rand(4), torch.zeros(4))
    with pytest.raises(
        ValueError, match="Need one label per code: 4 codes, 3 labels"
    ):
        plot_codes(torch.rand(4, 2), torch.zeros(3))


def test_draw_codes_on_given_axes_without_legend():
    fig, (left, right) = plt.subplots(1, 2)
    z = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    draw_codes(
        right,
        z,
        torch.tensor([1, 0, 1]),
        title="right panel",
        legend=False,
    )
    assert not left.collections and len(right.collections) == 2
    assert (
        right.get_title() == "right panel" and right.get_legend() is None
    )
    assert right.get_xlabel() == "$z_1$" and right.get_ylabel() == "$z_2$"
    np.testing.assert_array_equal(
        right.collections[1].get_offsets(), [[0.0, 1.0], [2.0, 2.0]]
    )


def test_draw_codes_styles_up_to_20_classes_apart_in_the_palette():
    from matplotlib.colors import to_rgba

    z, labels = torch.rand(40, 2), torch.arange(40) % 20
    fig, ax = plt.subplots()
    draw_codes(ax, z, labels)
    styles = [
        (
            tuple(c.get_facecolor()[0]),
            tuple(map(tuple, c.get_paths()[0].vertices.round(3))),
        )
        for c in ax.collections
    ]
    assert len(styles) == 20 and len(set(styles)) == 20
    # class 13: palette colour 13 - 8 = 5, with the second marker
    assert styles[13][0] == pytest.approx(
        to_rgba(plots.PALETTE[5], alpha=0.7)
    )
    assert styles[13][1] != styles[5][1] and styles[13][0] == styles[5][0]
    assert plots.class_style(13) == (plots.PALETTE[5], "^")
    fig, ax = plt.subplots()
    draw_codes(ax, z[:5], labels[:5])  # a class keeps its style
    assert tuple(ax.collections[3].get_facecolor()[0]) == pytest.approx(
        to_rgba(plots.COLOURS["red"], alpha=0.7)
    )


def test_draw_codes_writes_each_class_name_at_its_median():
    z = torch.tensor(
        [[0.0, 0.0], [1.0, 4.0], [9.0, 1.0], [5.0, 5.0], [6.0, 7.0]]
    )
    labels = torch.tensor([0, 0, 0, 1, 1])
    fig, ax = plt.subplots()
    draw_codes(ax, z, labels, classes=["zero", "one"])
    names = {t.get_text(): t.get_position() for t in ax.texts}
    assert names == {"zero": (1.0, 1.0), "one": (5.5, 6.0)}
    fig, ax = plt.subplots()
    draw_codes(ax, z, labels, label_classes=False)
    assert len(ax.texts) == 0


def test_class_style_refuses_a_negative_class():
    with pytest.raises(ValueError, match="class index >= 0, got -1"):
        plots.class_style(-1)


def test_draw_codes_refuses_bad_shapes():
    fig, ax = plt.subplots()
    with pytest.raises(
        ValueError, match=r"2-D codes of shape \(N, 2\); got \(4, 3\)"
    ):
        draw_codes(ax, torch.rand(4, 3), torch.zeros(4))
    with pytest.raises(
        ValueError, match="Need one label per code: 4 codes, 3 labels"
    ):
        draw_codes(ax, np.zeros((4, 2)), np.zeros(3))


def test_draw_roc_one_labelled_line_per_curve_and_the_diagonal():
    fig, ax = plt.subplots()
    curves = {
        "reconstruction error": (
            np.array([0.0, 0.1, 1.0]),
            np.array([0.0, 0.9, 1.0]),
            0.966,
        ),
        "pixels": (
            torch.tensor([0.0, 0.5, 1.0]),
            torch.tensor([0.0, 0.6, 1.0]),
            0.55,
        ),
    }
    draw_roc(ax, curves, title="ROC")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "reconstruction error (AUROC 0.97)",
        "pixels (AUROC 0.55)",
        "chance (0.50)",
    ]
    np.testing.assert_array_equal(
        lines[0].get_xydata(), [[0.0, 0.0], [0.1, 0.9], [1.0, 1.0]]
    )
    np.testing.assert_array_equal(lines[2].get_xydata(), [[0, 0], [1, 1]])
    assert lines[2].get_linestyle() == "--"
    assert (
        ax.get_xlabel() == "false positive rate"
        and ax.get_ylabel() == "true positive rate"
    )
    assert (
        ax.get_xlim() == (0, 1)
        and ax.get_ylim() == (0, 1)
        and ax.get_title() == "ROC"
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        line.get_label() for line in lines
    ]
    fig.canvas.draw()
    box = (
        ax.get_legend()
        .get_window_extent()
        .transformed(ax.transAxes.inverted())
    )
    assert box.x1 > 0.9 and box.y0 < 0.1  # in the lower right corner


def test_draw_roc_refuses_no_curve_or_mismatched_rates():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="at least one curve"):
        draw_roc(ax, {})
    with pytest.raises(
        ValueError,
        match=r"Curve 'a': fpr and tpr must be 1-D of the same length",
    ):
        draw_roc(ax, {"a": ([0, 1], [0, 0.5, 1], 0.5)})


def test_draw_hourglass_mirrors_the_sizes():
    fig = draw_hourglass([784, 256, 32], title="hourglass")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 5
    heights = [b.get_height() for b in boxes]
    # narrowest at the code
    assert heights == sorted(heights[:3], reverse=True) + sorted(
        heights[3:]
    )
    assert heights[0] == pytest.approx(1.0) and heights[2] == min(heights)
    texts = [t.get_text() for t in ax.texts]
    for word in ["784", "256", "32", "input x", "code z", "output x̂"]:
        assert word in texts
    assert texts.count("784") == 2 and texts.count("32") == 1


def test_show_code_table_labels_every_value():
    code = torch.tensor([[0.0, 1.0, 0.25], [1.0, 0.5, 0.0]])
    fig, ax = plt.subplots()
    plots.show_code_table(ax, code, "t")
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        f"{v:.2f}" for v in code.flatten().tolist()
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "$z_1$",
        "$z_2$",
        "$z_3$",
    ]
    with pytest.raises(ValueError, match=r"\(n, h\)"):
        plots.show_code_table(ax, torch.rand(3))


def test_show_codes_in_cube_draws_points_edges_and_hull():
    corners = torch.tensor(
        [
            [a, b, c]
            for a in (0.0, 1.0)
            for b in (0.0, 1.0)
            for c in (0.0, 1.0)
        ]
    )
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    plots.show_codes_in_cube(ax, corners)
    assert len(ax.lines) == 12  # the 12 edges of the cube
    assert len(ax.texts) == 8  # one label per code
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        plots.show_codes_in_cube(ax, torch.rand(8, 2))


def test_show_manifold_tiles_the_images_at_their_codes():
    from aecourse.models.vae import latent_grid

    z = latent_grid(3)
    # image i is a flat grey i/8
    images = torch.arange(9.0)[:, None, None, None].expand(9, 1, 4, 4) / 8
    fig = plots.show_manifold(images, z, title="manifold")
    (ax,) = fig.axes
    tiled = shown(ax)
    assert tiled.shape == (12, 12) and ax.get_title() == "manifold"
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(
                tiled[4 * i : 4 * i + 4, 4 * j : 4 * j + 4],
                (3 * i + j) / 8,
            )
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"{v:.2f}" for v in z[:3, 0].tolist()
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        f"{v:.2f}" for v in z[::3, 1].tolist()
    ]
    # the middle of each tile
    np.testing.assert_allclose(ax.get_xticks(), [1.5, 5.5, 9.5])


def test_show_manifold_refuses_a_grid_that_is_not_square():
    with pytest.raises(ValueError, match=r"n² images and their n² codes"):
        plots.show_manifold(torch.rand(8, 16), torch.zeros(8, 2))
    with pytest.raises(ValueError, match=r"codes of shape \(9, 3\)"):
        plots.show_manifold(torch.rand(9, 16), torch.zeros(9, 3))


def test_show_attention_labels_source_and_output_tokens():
    w1 = torch.softmax(torch.randn(3, 4), dim=1)
    w2 = torch.softmax(torch.randn(2, 2), dim=1)
    fig = plots.show_attention(
        [
            (["a", "b", "c", "<eos>"], ["x", "y", "<eos>"], w1),
            (["d", "<eos>"], ["z", "<eos>"], w2),
        ]
    )
    first, second = fig.axes
    np.testing.assert_allclose(shown(first), w1.numpy())
    assert [t.get_text() for t in first.get_xticklabels()] == [
        "a",
        "b",
        "c",
        "<eos>",
    ]
    assert [t.get_text() for t in first.get_yticklabels()] == [
        "x",
        "y",
        "<eos>",
    ]
    assert [t.get_text() for t in second.get_yticklabels()] == [
        "z",
        "<eos>",
    ]
    plt.close(fig)


def test_show_attention_refuses_weights_of_the_wrong_shape():
    with pytest.raises(
        ValueError, match="len\\(output\\), len\\(source\\)"
    ):
        plots.show_attention(
            [(["a", "<eos>"], ["x", "<eos>"], torch.ones(2, 3) / 3)]
        )
    with pytest.raises(ValueError, match="at least one"):
        plots.show_attention([])


def test_draw_hourglass_bars_are_square_root_scaled():
    fig = draw_hourglass([784, 256, 32])
    boxes = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    heights = [b.get_height() for b in boxes]
    widths = [784, 256, 32, 256, 784]
    assert heights == pytest.approx(
        [0.15 + 0.85 * (w / 784) ** 0.5 for w in widths]
    )


# --- the palette ---------------------------------------------------------------------------------

# Okabe & Ito (2008), "Color Universal Design", Fig. 16: their eight colours as RGB (0-255), typed
# from the source and not from plots.py
OKABE_ITO_RGB = {
    (0, 0, 0),  # black
    (230, 159, 0),  # orange
    (86, 180, 233),  # sky blue
    (0, 158, 115),  # bluish green
    (240, 228, 66),  # yellow
    (0, 114, 178),  # blue
    (213, 94, 0),  # vermillion
    (204, 121, 167),  # reddish purple
}


def rgb255(colour) -> tuple[int, int, int]:
    from matplotlib.colors import to_rgb

    return tuple(round(255 * v) for v in to_rgb(colour))


def test_the_palette_is_okabe_ito_and_is_the_colour_cycle():
    assert {rgb255(c) for c in plots.PALETTE} == OKABE_ITO_RGB
    assert len(plots.PALETTE) == 8 and plots.PALETTE == tuple(
        plots.COLOURS.values()
    )
    # blue, orange, green, red first: C0..C3 keep the hues of matplotlib's default cycle
    assert [rgb255(f"C{k}") for k in range(4)] == [
        (0, 114, 178),
        (230, 159, 0),
        (0, 158, 115),
        (213, 94, 0),
    ]
    fig, ax = plt.subplots()
    lines = [ax.plot([0, 1], [k, k])[0] for k in range(9)]
    assert [rgb255(line.get_color()) for line in lines] == [
        rgb255(c) for c in plots.PALETTE + plots.PALETTE[:1]
    ]


def test_use_palette_restores_the_cycle_after_a_reset(monkeypatch):
    import matplotlib

    monkeypatch.setitem(
        matplotlib.rcParams,
        "axes.prop_cycle",
        matplotlib.rcParamsDefault["axes.prop_cycle"],
    )
    assert rgb255("C0") == (
        31,
        119,
        180,
    )  # tab:blue, matplotlib's default
    plots.use_palette()
    assert rgb255("C0") == (0, 114, 178)


def test_the_palette_is_set_in_one_place():
    """No module of aecourse names a colour of matplotlib's tab10/tab20 or another hex colour: the
    palette is plots.COLOURS, written once."""
    import re
    from pathlib import Path

    import aecourse

    package = Path(aecourse.__file__).parent
    found = []
    for path in package.rglob("*.py"):
        text = path.read_text()
        for pattern in (r"tab:\w+", r"tab(10|20)", r"#[0-9A-Fa-f]{6}\b"):
            for match in re.finditer(pattern, text):
                if path.name != "plots.py" or not match.group(
                    0
                ).startswith("#"):
                    found.append(
                        f"{path.relative_to(package)}: {match.group(0)}"
                    )
    hexes = re.findall(
        r"#[0-9A-Fa-f]{6}", (package / "teaching/plots.py").read_text()
    )
    assert found == [] and len(hexes) == 8, (found, hexes)


def test_figures_that_draw_in_colour_use_the_palette():
    from matplotlib.colors import to_rgba

    fig = draw_hourglass([784, 256, 32])
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert [rgb255(b.get_facecolor()[:3]) for b in bars] == [
        rgb255(plots.COLOURS[c])
        for c in ("blue", "blue", "orange", "green", "green")
    ]
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    plots.show_codes_in_cube(
        ax, torch.cat([torch.zeros(1, 3), torch.eye(3)])
    )
    (points,) = ax.collections[1:]
    assert tuple(points.get_facecolor()[0]) == pytest.approx(
        to_rgba(plots.COLOURS["red"])
    )
