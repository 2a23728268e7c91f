"""Saved progress bars that read right: each tqdm bar's text form set to the bar's final state.

A chapter executed for the book runs the training loop's tqdm bar as an ipywidget. Its saved output
keeps the widget's view and a text form that tqdm wrote when the bar was first shown, so a finished
run reads ``denoiser, mask:   0%|          | 0/12 [00:00<?, ?it/s]`` wherever the widget is not drawn
(GitHub, a PDF, a text diff). The bar's last state is saved too, in the notebook's metadata (the
widget state nbclient records): the text left of the bar, the bar's value and maximum, and the text
right of it. :func:`final_progress` rewrites the text form into the line tqdm itself writes for that
state, the one a terminal shows when the bar closes::

    denoiser, mask: 100%|##########| 12/12 [00:49<00:00,  3.03s/it, train=83.48]

description, percentage, epochs done of the total, elapsed time (minutes:seconds), rate and the
postfix the training loop sets (the last epoch's losses). A bar that stopped early (a ``break``, an
error) says where: ``early:  33%|###3      | 4/12 ...``; one whose total was unknown has no bar:
``7/? [...]``. The widget view stays, so Jupyter still draws the bar, and the book's site draws the
same saved state as HTML (``_ext/offline_site.py``): page and text say the same. Only outputs change,
never code, so the notebook's stamp (:func:`aecourse.book.notebooks.source_hash`) still holds.

Used by the book tooling on the executed chapters of every topic that trains a model.
"""

from __future__ import annotations

import html

from tqdm.std import Bar

from aecourse._args import describe
from aecourse.book.figures import VIEW, widget_models

PROGRESS_MODELS = ("FloatProgressModel", "IntProgressModel")
BAR_WIDTH = 10  # tqdm's bar width when it is not told a number of columns


def _plain(value: str) -> str:
    """tqdm's text in an HTML widget back to plain text: tqdm escaped it (&lt;) and replaced every
    space by a figure space (U+2007) so that HTML keeps its padding."""
    return html.unescape(value).replace("\u2007", " ")


def tqdm_parts(
    model_id: str, models: dict
) -> tuple[str, float, str] | None:
    """The saved state of tqdm's notebook bar ``model_id``: (left text, fraction done, right text).

    tqdm's notebook bar is an HBox of three widgets: HTML (description and percentage), a progress
    bar (value n of max total) and HTML (n/total, times, rate, postfix). Returns None for any other
    widget, or when a model is missing. The texts are plain (unescaped, ordinary spaces).
    """
    box = models.get(model_id)
    if not box or box.get("model_name") != "HBoxModel":
        return None
    refs = box.get("state", {}).get("children", [])
    children = [
        models.get(str(r).removeprefix("IPY_MODEL_")) for r in refs
    ]
    if len(children) != 3 or not all(children):
        return None
    names = [c.get("model_name") for c in children]
    if names[0] != "HTMLModel" or names[2] != "HTMLModel":
        return None
    if names[1] not in PROGRESS_MODELS:
        return None
    left, progress, right = (c.get("state", {}) for c in children)
    low, high = progress.get("min", 0), progress.get("max", 100)
    value = progress.get("value", 0)
    fraction = (value - low) / (high - low) if high > low else 1.0
    return (
        _plain(left.get("value", "")),
        min(max(fraction, 0.0), 1.0),
        _plain(right.get("value", "")),
    )


def final_line(model_id: str, models: dict) -> str | None:
    """The text form of tqdm's bar ``model_id`` in its saved state, as tqdm writes it (ASCII bar).

    E.g. ``"VAE: 100%|##########| 12/12 [01:40<00:00,  8.33s/it, train=101.2]"``; None when the model
    is not a tqdm bar (see :func:`tqdm_parts`).
    """
    parts = tqdm_parts(model_id, models)
    if parts is None:
        return None
    left, fraction, right = parts
    # tqdm draws a bar only after a percentage; with an unknown total (right reads "7/? [...]") or
    # a bar_format without {bar}, it wrote no bar, and neither do we.
    if not left.endswith("%"):
        return " ".join(p.strip() for p in (left, right) if p.strip())
    bar = Bar(fraction, BAR_WIDTH, charset=Bar.ASCII)
    return f"{left}|{bar}|{right}"


def _tqdm_outputs(nb):
    """Yield (output data, its text form, the final line) for each saved tqdm bar's output in nb."""
    models = widget_models(nb)
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if VIEW not in data:
                continue
            text = data.get("text/plain", "")
            # a notebook's JSON splits text into lines
            if isinstance(text, list):
                text = "".join(text)
            if text.startswith("HBox("):
                # an HBox the notebook built itself (ipywidgets' text form); tqdm's writes its meter
                continue
            line = final_line(data[VIEW].get("model_id", ""), models)
            if line is not None:
                yield data, text, line


def final_progress(nb) -> int:
    """Set the text form of every saved tqdm bar in ``nb`` (in place) to its final line.

    nb: a notebook (nbformat's node or its JSON as a dict) with outputs and saved widget state.
    Leaves alone other widgets, views whose model was not saved, and everything but the outputs'
    ``text/plain``; running it twice changes nothing more. Returns how many outputs it changed.
    Raises ValueError if nb is not a notebook.
    """
    _check_notebook(nb)
    changed = 0
    for data, text, line in list(_tqdm_outputs(nb)):
        if line != text:
            data["text/plain"] = line
            changed += 1
    return changed


def stale_progress(nb) -> list[str]:
    """The text forms of saved tqdm bars in ``nb`` that do not read their final state (empty: all do).

    nb: as for :func:`final_progress`, which would fix each one; ``nb`` is not changed.
    """
    _check_notebook(nb)
    return [text for _, text, line in _tqdm_outputs(nb) if line != text]


def _check_notebook(nb) -> None:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(
            f"nb must be a notebook (a dict with a list of cells), got {describe(nb)}."
        )
