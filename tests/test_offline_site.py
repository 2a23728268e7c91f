"""The book's Sphinx extension _ext/offline_site.py: MathJax 3 from the site, saved widgets as HTML.

These run without a browser or a build; tests/test_site.py checks the built pages in Chromium.
"""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location(
    "offline_site", ROOT / "_ext" / "offline_site.py"
)
offline_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(offline_site)

VIEW, STATE = offline_site.VIEW, offline_site.STATE


def test_the_book_loads_the_extension_and_its_mathjax_path():
    sphinx = CONFIG["sphinx"]
    assert sphinx["local_extensions"]["offline_site"] == "_ext"
    assert sphinx["config"]["mathjax_path"] == offline_site.MATHJAX_PATH
    # the chapters' macros stay in MathJax 3's configuration
    assert set(sphinx["config"]["mathjax3_config"]["tex"]["macros"]) >= {
        "E",
        "D",
        "R",
    }


def test_mathjax_3_and_what_it_loads_are_in_the_pinned_package():
    source = offline_site.mathjax_source()
    core = (source / "tex-chtml.js").read_text(errors="replace")
    assert 'VERSION="3.' in core or 'version:"3.' in core
    for part in offline_site.MATHJAX_PARTS:
        assert (source / part).exists(), part
    fonts = list((source / "output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) >= 20
    assert (source / "input/tex/extensions/boldsymbol.js").is_file()


def test_copy_mathjax_copies_only_what_the_site_needs(tmp_path):
    class Builder:
        format = "html"

    class App:
        outdir = str(tmp_path)
        builder = Builder()

    offline_site.copy_mathjax(App(), None)
    target = tmp_path / "_static" / "mathjax"
    assert (target / "tex-chtml.js").is_file()
    assert (
        target / "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff"
    ).is_file()
    assert not (
        target / "tex-svg-full.js"
    ).exists()  # unused components stay out
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    assert 3e6 < size < 10e6, size
    offline_site.copy_mathjax(
        App(), RuntimeError("failed build")
    )  # no copy, no error


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_saved_widget_of_a_chapter_becomes_static_html(path):
    notebook = json.loads(path.read_text())
    views = [
        output
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if VIEW in output.get("data", {})
    ]
    replaced = offline_site.static_widgets(notebook)
    assert replaced == len(views)
    assert (
        "widgets" not in notebook["metadata"]
    )  # so myst-nb adds no widget script
    for output in views:
        assert VIEW not in output["data"]
        assert output["data"]["text/html"].startswith(
            '<div class="aecourse-widget-static"'
        )


def _state(**models):
    return {
        model_id: {"model_name": name, "state": state}
        for model_id, (name, state) in models.items()
    }


def _notebook(model_id, state):
    return {
        "metadata": {"widgets": {STATE: {"state": state}}},
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "data": {
                            VIEW: {"model_id": model_id},
                            "text/plain": "HBox(...)",
                        },
                    }
                ],
            }
        ],
    }


def test_a_tqdm_bar_becomes_a_progress_element_with_its_text():
    state = _state(
        box=(
            "HBoxModel",
            {"children": ["IPY_MODEL_a", "IPY_MODEL_b", "IPY_MODEL_c"]},
        ),
        a=("HTMLModel", {"value": "epochs: 100%"}),
        b=("FloatProgressModel", {"min": 0, "max": 4.0, "value": 4.0}),
        c=("HTMLModel", {"value": " 4/4 [00:16&lt;00:00]"}),
    )
    notebook = _notebook("box", state)
    assert offline_site.static_widgets(notebook) == 1
    shown = notebook["cells"][0]["outputs"][0]["data"]["text/html"]
    assert "<span>epochs: 100%</span>" in shown
    assert '<progress max="4.0" value="4.0"' in shown
    assert "4/4 [00:16&lt;00:00]" in shown


def test_a_slider_shows_its_saved_value_and_its_output_figure():
    state = _state(
        box=("VBoxModel", {"children": ["IPY_MODEL_s", "IPY_MODEL_o"]}),
        s=(
            "IntSliderModel",
            {"description": "pixel", "min": 0, "max": 4, "value": 1},
        ),
        o=(
            "OutputModel",
            {
                "outputs": [
                    {
                        "output_type": "display_data",
                        "data": {"image/png": "iVBO\n"},
                    },
                    {"output_type": "stream", "text": "a < b"},
                ]
            },
        ),
    )
    notebook = _notebook("box", state)
    offline_site.static_widgets(notebook)
    shown = notebook["cells"][0]["outputs"][0]["data"]["text/html"]
    assert (
        '<input type="range" disabled min="0" max="4" step="1" value="1"'
        in shown
    )
    assert (
        "<label>pixel</label>" in shown and "<output>1</output>" in shown
    )
    assert '<img src="data:image/png;base64,iVBO">' in shown
    assert "<pre>a &lt; b</pre>" in shown


def test_an_unknown_widget_keeps_its_text_form():
    state = _state(
        box=("HBoxModel", {"children": ["IPY_MODEL_x"]}),
        x=("MapModel", {}),
    )
    notebook = _notebook("box", state)
    before = copy.deepcopy(
        notebook["cells"][0]["outputs"][0]["data"]["text/plain"]
    )
    assert offline_site.static_widgets(notebook) == 0
    data = notebook["cells"][0]["outputs"][0]["data"]
    assert data == {"text/plain": before}


def test_scripts_added_twice_are_kept_once():
    from sphinx.builders.html._assets import _JavaScript

    body = 'const THEBE_JS_URL = "x"'
    context = {
        "script_files": [
            _JavaScript("a.js"),
            _JavaScript(None, body=body),
            _JavaScript("", body=body),
            _JavaScript("a.js"),
            _JavaScript("", body="let other = 1"),
        ]
    }
    offline_site.drop_repeated_scripts(
        None, "p", "page.html", context, None
    )
    kept = [
        (s.filename, s.attributes.get("body"))
        for s in context["script_files"]
    ]
    assert kept == [("a.js", None), (None, body), ("", "let other = 1")]
