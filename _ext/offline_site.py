"""Sphinx extension of the book: a site that works offline (issue 18, part 2).

MathJax 3 from the site itself
    The pages load ``_static/mathjax/tex-chtml.js`` instead of the CDN's copy. The files come from
    the pinned pip package ``sphinx-mathjax-offline`` (MathJax 3.2.2's built ``es5`` components; we
    use its files only, not its Sphinx hook, which would copy all 24 MB of them): the TeX-to-HTML
    component, the CHTML fonts, the TeX extensions that it loads on demand (``\\boldsymbol``,
    ``\\cancel``, ...) and the menu's accessibility components (about 9 MB in ``_build/html``, nothing
    in the repository). MathJax 3, not 4: version 4 fetches its fonts from a CDN.

Saved widget state as static HTML
    A chapter's saved widgets (tqdm's progress bars, a slider with its figure) are shown by the
    ``@jupyter-widgets/html-manager`` and ``require.js`` scripts, which myst-nb loads from two CDNs
    (4.4 MB of JavaScript). Instead, each widget output is turned into plain HTML drawn from the
    notebook's saved state when the notebook is read (``source-read``): a progress bar becomes a
    ``<progress>`` with its tqdm text, a slider a disabled ``<input type="range">`` at its saved value
    with the figure its Output widget holds. The page then needs no widget script at all, and the
    notebook files are not changed. Run the chapter in Jupyter or Colab for live widgets.

One caption per figure
    A figure's caption and alt text are in the metadata of the cell that draws it
    (:mod:`aecourse.book.figures`). myst-nb wraps *every* displayed output of a captioned cell in a
    figure with the cell's caption, and gives every image of it the cell's alt text; so a cell that
    shows a progress bar and then its figure, or several figures, is split here (in the notebook
    read for the page, not the file) into consecutive cells, one per figure, each with its own caption
    and alt text; the later ones show no code. The image of a saved slider gets its cell's alt text.
"""

from __future__ import annotations

import copy
import html
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

# The book's own checkout of aecourse, even where another copy is installed (an editable install of a
# different worktree): the figure texts are read the way this checkout's tests expect.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aecourse.book.figures import (  # noqa: E402
    clear_figures,
    figures_of,
    is_figure,
    set_figures,
    widget_models,
)

STATE = "application/vnd.jupyter.widget-state+json"
VIEW = "application/vnd.jupyter.widget-view+json"

MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_DIR = "sphinx-mathjax-offline/static/mathjax"
MATHJAX_PATH = "mathjax/tex-chtml.js"  # relative to _static/
# What tex-chtml.js needs, or loads on demand (menu, accessibility, TeX extensions, fonts).
MATHJAX_PARTS = [
    "tex-chtml.js",
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
    "ui",
    "a11y",
    "sre",
    "adaptors",
]


def mathjax_source() -> Path:
    """The folder of MathJax 3's built components inside the installed pip package."""
    try:
        dist = metadata.distribution(MATHJAX_PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise RuntimeError(
            f"the offline MathJax comes from the pip package {MATHJAX_PACKAGE}: "
            "pip install -r requirements.txt -c constraints.txt"
        ) from error
    folder = Path(dist.locate_file(MATHJAX_DIR))
    if not (folder / "tex-chtml.js").is_file():
        raise RuntimeError(f"no tex-chtml.js in {folder}")
    return folder


def copy_mathjax(app, exception) -> None:
    """build-finished: copy MathJax's needed parts into _build/html/_static/mathjax/."""
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(
                source / part, target / part, dirs_exist_ok=True
            )
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


# --- widgets: saved state -> static HTML -------------------------------------------------------


def _ref(value: str) -> str:
    return value.removeprefix("IPY_MODEL_")


def _text_output_html(output: dict, alt: str | None = None) -> str:
    """One output of an Output widget as static HTML (image, html, stream or plain text).

    alt: the image's alt text when the output's own metadata gives none (its cell's, for a figure).
    """
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(output.get('text', ''))}</pre>"
    data = output.get("data", {})
    if "image/png" in data:
        alt = (output.get("metadata", {}).get("image/png", {}) or {}).get(
            "alt"
        ) or alt
        alt_attr = f' alt="{html.escape(alt)}"' if alt else ""
        png = "".join(data["image/png"]).replace("\n", "")
        return f'<img src="data:image/png;base64,{png}"{alt_attr}>'
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def widget_html(
    model_id: str, state: dict, depth: int = 0, alt: str | None = None
) -> str | None:
    """Static HTML for the saved widget ``model_id`` (None for a model this fallback does not know).

    alt: the alt text of the images its Output widgets hold (see :func:`_text_output_html`).
    """
    model = state.get(model_id)
    if model is None or depth > 20:
        return None
    name, s = model["model_name"], model["state"]
    description = html.escape(str(s.get("description", "")))
    label = f"<label>{description}</label> " if description else ""
    if name in ("HBoxModel", "VBoxModel", "BoxModel"):
        parts = [
            widget_html(_ref(c), state, depth + 1, alt)
            for c in s.get("children", [])
        ]
        if any(p is None for p in parts):
            return None
        direction = "column" if name == "VBoxModel" else "row"
        align = "flex-start" if direction == "column" else "center"
        return (
            f'<div class="aecourse-widget" style="display:flex;flex-direction:{direction};'
            f'flex-wrap:wrap;align-items:{align};gap:0.5em">{"".join(parts)}</div>'
        )
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{s.get('value', '')}</span>"
    if name == "LabelModel":
        return f"<span>{html.escape(str(s.get('value', '')))}</span>"
    if name in ("FloatProgressModel", "IntProgressModel"):
        low, high, value = (
            s.get("min", 0),
            s.get("max", 100),
            s.get("value", 0),
        )
        return (
            f'{label}<progress max="{high - low}" value="{value - low}" '
            f'aria-label="{description or "progress"}"></progress>'
        )
    if name in (
        "IntSliderModel",
        "FloatSliderModel",
        "FloatLogSliderModel",
    ):
        value = s.get("value", 0)
        return (
            f'{label}<input type="range" disabled min="{s.get("min", 0)}" '
            f'max="{s.get("max", 100)}" step="{s.get("step", 1)}" value="{value}" '
            f'aria-label="{description or "slider"}"> <output>{value}</output>'
        )
    if name == "SelectionSliderModel":
        labels, index = s.get("_options_labels", []), s.get("index", 0)
        shown = (
            html.escape(str(labels[index]))
            if 0 <= index < len(labels)
            else ""
        )
        return (
            f'{label}<input type="range" disabled min="0" max="{max(len(labels) - 1, 0)}" '
            f'value="{index}" aria-label="{description or "slider"}"> <output>{shown}</output>'
        )
    if name == "OutputModel":
        return "".join(
            _text_output_html(o, alt) for o in s.get("outputs", [])
        )
    return None


def static_widgets(notebook: dict) -> int:
    """Replace every widget view of ``notebook`` (in place) by static HTML drawn from its saved state.

    Drops the saved state from the metadata, so that myst-nb adds no widget script to the page.
    A view whose model is missing or unknown keeps only its text/plain form. An image in a widget
    gets the alt text of its cell's figure (:func:`split_figure_cells` leaves one per cell). Returns
    the number of views replaced.
    """
    widgets = notebook.get("metadata", {}).pop("widgets", None) or {}
    state = widgets.get(STATE, {}).get("state", {})
    replaced = 0
    for cell in notebook.get("cells", []):
        figures = figures_of(cell)
        alt = figures[0]["alt"] if figures else None
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if VIEW not in data:
                continue
            view = data.pop(VIEW)
            shown = widget_html(view.get("model_id", ""), state, alt=alt)
            if shown is not None:
                data["text/html"] = (
                    '<div class="aecourse-widget-static" title="saved state of a '
                    'widget: run the chapter for a live one">'
                    + shown
                    + "</div>"
                )
                replaced += 1
    return replaced


# --- one caption per figure ------------------------------------------------------------------


def _shown(output: dict) -> bool:
    """Whether myst-nb shows the output as a display (and so would wrap it in the cell's figure)."""
    return output.get("output_type") in (
        "display_data",
        "execute_result",
    ) and "scrapbook" not in output.get("metadata", {})


def _pieces(
    outputs: list, figure: list[bool]
) -> list[tuple[int | None, list]]:
    """The outputs cut into runs, each shown under one caption or none: [(figure number, outputs)].

    A figure starts a run of its own unless the run so far holds no displayed output; a displayed
    output that is no figure after a figure starts a new run. Streams (printed text) stay where
    they are: myst-nb never puts them in a figure.
    """
    pieces: list[tuple[int | None, list]] = [(None, [])]
    count = 0
    for output, is_fig in zip(outputs, figure):
        number, run = pieces[-1]
        if is_fig:
            if number is not None or any(_shown(o) for o in run):
                pieces.append((None, []))
            pieces[-1] = (count, pieces[-1][1])
            count += 1
        elif _shown(output) and number is not None:
            pieces.append((None, []))
        pieces[-1][1].append(output)
    return pieces


def split_figure_cells(notebook: dict) -> int:
    """Give every captioned figure of ``notebook`` (in place) a code cell of its own.

    A cell whose metadata describes figures (:func:`aecourse.book.figures.figures_of`) and that shows
    anything besides one figure is replaced by consecutive cells: the first keeps the code and the
    outputs up to the first figure's run, each later one has the tag ``remove-input`` (only its
    outputs show). Each cell with a figure carries that figure's caption and alt text in myst-nb's
    keys; the others none. Returns the number of cells added.
    """
    state = widget_models(notebook)
    cells, added = [], 0
    for cell in notebook.get("cells", []):
        given = (
            figures_of(cell) if cell.get("cell_type") == "code" else []
        )
        outputs = cell.get("outputs", [])
        figure = [is_figure(o, state) for o in outputs]
        shown = [i for i, o in enumerate(outputs) if _shown(o)]
        if not given or (
            len(given) == 1
            and shown == [i for i, f in enumerate(figure) if f]
        ):
            cells.append(cell)
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        later_tags = [
            t for t in tags if "input" not in t and t != "hide-cell"
        ]
        for k, (number, run) in enumerate(_pieces(outputs, figure)):
            if k == 0:
                piece = {
                    **cell,
                    "metadata": copy.deepcopy(cell["metadata"]),
                }
            else:
                piece = {
                    "cell_type": "code",
                    "execution_count": cell.get("execution_count"),
                    "metadata": {"tags": [*later_tags, "remove-input"]},
                    # myst-nb skips a cell with no source; this one is never shown
                    "source": "# outputs of the cell above",
                }
                if "id" in cell:
                    piece["id"] = f"{cell['id']}-{k}"[:64]
                added += 1
            piece["outputs"] = run
            if number is not None and number < len(given):
                set_figures(piece, [given[number]])
            else:
                clear_figures(piece)
            cells.append(piece)
    notebook["cells"] = cells
    return added


def notebook_source_read(app, docname, source) -> None:
    """source-read: the notebook's JSON with one cell per captioned figure and its widgets made static
    (the file itself is unchanged)."""
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = json.loads(source[0])
    had_state = "widgets" in notebook.get("metadata", {})
    split = split_figure_cells(
        notebook
    )  # first: it reads the widget state
    if static_widgets(notebook) or had_state or split:
        source[0] = json.dumps(notebook)


# --- scripts added twice -------------------------------------------------------------------------


def drop_repeated_scripts(
    app, pagename, templatename, context, doctree
) -> None:
    """html-page-context: each script once.

    sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) on every
    ``env-before-read-docs``, which Jupyter Book emits twice, and the second ``const`` is a
    SyntaxError in every page's console. Inline scripts are not deduplicated by Sphinx; here the
    later copies of any script (same file, same body) are dropped.
    """
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (
            str(getattr(script, "filename", script) or ""),
            repr(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    # _config.yml sets mathjax_path to MATHJAX_PATH; fail early, with the install command, if the
    # package is missing
    mathjax_source()
    app.connect("source-read", notebook_source_read)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
