"""Figures a reader can use: the caption and alt text of every figure a chapter shows.

Every chapter topic leans on it: a figure on the book's site has a numbered caption under it (what it
shows, what to notice) and alt text that describes the image to a reader who cannot see it (axes, what
is plotted, the visible trend). Both are written in the metadata of the code cell that draws the
figure, not in its outputs: a re-run replaces the outputs and keeps the metadata, and metadata is not
part of a chapter's stamp (:func:`aecourse.book.notebooks.source_hash`), so adding a caption never
makes a chapter stale. A cell showing one figure uses the keys myst-nb reads::

    "metadata": {"mystnb": {"figure": {"caption": "...", "name": "fig-structure-hourglass"},
                            "image": {"alt": "..."}}}

The caption is MyST (``$\\hat x$`` works), the alt text plain text, the name a label for ``{numref}``
that makes myst-nb number the figure. A cell showing several figures (a loop drawing one per model)
lists them in the order they are shown, ``"metadata": {"aecourse": {"figures": [{"caption": ...,
"alt": ..., "name": ...}, ...]}}``, and the book's Sphinx extension (``_ext/offline_site.py``) splits
it so that each figure gets its own. A figure is an image output, or a saved widget (a slider) whose
output holds an image. :func:`problems` says which figures of a notebook lack either text. Imports
nothing heavy (no torch), so that the book's build stays light.
"""

from __future__ import annotations

import re

MYSTNB = "mystnb"  # myst-nb's key in a cell's metadata
COURSE = (
    "aecourse"  # ours: the list of figures of a cell that shows several
)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
# alt text shorter than this says too little to describe a figure ("plot", "a loss curve")
MIN_ALT_WORDS = 5
# what an image's file name looks like: the alt text myst-nb writes when it is given none
FILE_NAME = re.compile(
    r"(^|/)[\w.-]+\.(png|jpe?g|gif|svg|webp)$", re.IGNORECASE
)
# a figure's label: myst-nb numbers named figures; lower case, digits and hyphens, unique in the book
NAME = re.compile(r"^fig-[a-z0-9]+(-[a-z0-9]+)*$")
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def widget_models(nb) -> dict:
    """The saved widget models of a notebook, by model id ({} when it saved none).

    Read here and by :mod:`aecourse.book.progress` (saved progress bars).
    """
    widgets = nb.get("metadata", {}).get("widgets") or {}
    return (widgets.get(STATE) or {}).get("state") or {}


def _widget_has_image(
    model_id: str, models: dict, depth: int = 0
) -> bool:
    """Whether the saved widget ``model_id`` (a box's children included) holds an image output."""
    model = models.get(model_id)
    if model is None or depth > 20:
        return False
    state = model.get("state", {})
    if model.get("model_name") == "OutputModel":
        return any(
            kind in output.get("data", {})
            for output in state.get("outputs", [])
            for kind in IMAGE_TYPES
        )
    return any(
        _widget_has_image(
            child.removeprefix("IPY_MODEL_"), models, depth + 1
        )
        for child in state.get("children", [])
    )


def is_figure(output: dict, models: dict) -> bool:
    """Whether one output of a code cell shows a figure: an image, or a saved widget holding one.

    output: one entry of a cell's ``outputs``; models: the notebook's saved widget models
    (:func:`widget_models`). Glue records (``scrapbook`` metadata) are not shown
    where they are made, so they are no figure.
    """
    if output.get("output_type") not in (
        "display_data",
        "execute_result",
    ):
        return False
    if "scrapbook" in output.get("metadata", {}):
        return False
    data = output.get("data", {})
    if any(kind in data for kind in IMAGE_TYPES):
        return True
    view = data.get(VIEW)
    return bool(view) and _widget_has_image(
        view.get("model_id", ""), models
    )


def figure_outputs(nb, cell) -> list[int]:
    """Indices into ``cell["outputs"]`` of the outputs that show a figure, in order ([] for markdown)."""
    if cell.get("cell_type") != "code":
        return []
    models = widget_models(nb)
    return [
        i
        for i, output in enumerate(cell.get("outputs", []))
        if is_figure(output, models)
    ]


def figures_of(cell) -> list[dict]:
    """The figures' texts a cell's metadata gives, in order: [{"caption", "alt", "name"}, ...].

    One entry from myst-nb's keys, or the entries of ``aecourse.figures``; a text that is not given is
    "" (so :func:`problems` can say which). [] when the metadata gives neither.
    """
    meta = cell.get("metadata", {})
    listed = meta.get(COURSE, {}).get("figures")
    if listed is not None:
        entries = listed
    else:
        mystnb = meta.get(MYSTNB, {})
        figure, image = mystnb.get("figure", {}), mystnb.get("image", {})
        if not (figure or image):
            return []
        entries = [{**figure, "alt": image.get("alt", "")}]
    return [
        {
            key: str(entry.get(key, "")).strip()
            for key in ("caption", "alt", "name")
        }
        for entry in entries
    ]


def set_figures(cell, figures: list[dict]) -> None:
    """Write the figures' texts into a cell's metadata (in place), replacing what was there.

    figures: [{"caption", "alt", "name"}, ...], one per figure the cell shows. One entry goes into
    myst-nb's keys (other myst-nb settings of the cell are kept), several into ``aecourse.figures``.
    Raises ValueError for no entry or an entry without caption or alt.
    """
    if not figures:
        raise ValueError(
            "set_figures needs one {caption, alt, name} per figure."
        )
    for k, entry in enumerate(figures):
        missing = [
            key
            for key in ("caption", "alt")
            if not str(entry.get(key, "")).strip()
        ]
        if missing:
            raise ValueError(
                f"Figure {k + 1} of the cell has no {' and no '.join(missing)}: {entry!r}."
            )
    clean = [
        {
            key: str(entry[key]).strip()
            for key in ("caption", "alt", "name")
            if str(entry.get(key, "")).strip()
        }
        for entry in figures
    ]
    clear_figures(cell)
    meta = cell.setdefault("metadata", {})
    if len(clean) == 1:
        (entry,) = clean
        mystnb = meta.setdefault(MYSTNB, {})
        mystnb["figure"] = {k: v for k, v in entry.items() if k != "alt"}
        mystnb["image"] = {"alt": entry["alt"]}
    else:
        meta.setdefault(COURSE, {})["figures"] = clean


def clear_figures(cell) -> None:
    """Remove a cell's figure texts (in place), in both forms; its other metadata stays."""
    meta = cell.get("metadata", {})
    for key, fields in (
        (MYSTNB, ("figure", "image")),
        (COURSE, ("figures",)),
    ):
        if key in meta:
            for field in fields:
                meta[key].pop(field, None)
            if not meta[key]:
                del meta[key]


def alt_problem(alt: str) -> str | None:
    """Why ``alt`` does not describe a figure (None when it may): empty, a file name, or too short."""
    alt = (alt or "").strip()
    if not alt:
        return "no alt text"
    if FILE_NAME.search(alt):
        return f"alt text is a file name ({alt!r})"
    if len(alt.split()) < MIN_ALT_WORDS:
        return f"alt text {alt!r} is shorter than {MIN_ALT_WORDS} words"
    return None


def problems(nb) -> list[str]:
    """Why a notebook's figures are not ready for readers (empty list: every figure is).

    For each code cell that shows figures: one caption and one alt text per figure, alt text that
    describes (:func:`alt_problem`), names that are labels (``fig-...``) and unique in the notebook;
    and no cell with figure texts but no figure (a caption left behind by a cell that lost its plot).
    """
    found, names = [], {}
    for index, cell in enumerate(nb.get("cells", [])):
        shown, given = len(figure_outputs(nb, cell)), figures_of(cell)
        if not shown and not given:
            continue
        first = cell.get("source", "")
        first = "".join(first).strip().split("\n")[0][:60]
        where = f"cell {index} ({first!r})"
        if len(given) != shown:
            found.append(
                f"{where}: shows {shown} figure(s) but its metadata describes {len(given)}"
            )
        for k, entry in enumerate(given, 1):
            label = f"{where}, figure {k}"
            if not entry["caption"]:
                found.append(f"{label}: no caption")
            why = alt_problem(entry["alt"])
            if why:
                found.append(f"{label}: {why}")
            name = entry["name"]
            if name and not NAME.match(name):
                found.append(f"{label}: name {name!r} is not fig-<words>")
            if name and name in names:
                found.append(
                    f"{label}: name {name!r} is also {names[name]}'s"
                )
            if name:
                names.setdefault(name, label)
    return found
