"""aecourse.teaching.prose.glue: formats, returns the text, records it only for the book."""

from __future__ import annotations

import pytest

from aecourse.teaching import prose


def test_glue_formats_and_returns_the_text(monkeypatch):
    monkeypatch.delenv("AECOURSE_BOOK", raising=False)
    assert prose.glue("gap", 0.123456, "{:.3f}") == "0.123"
    assert prose.glue("share", 0.5, "{:.0%}") == "50%"
    assert prose.glue("n", 7) == "7"


def test_glue_records_for_the_book_only(monkeypatch):
    shown = []
    monkeypatch.setattr(
        "IPython.display.display",
        lambda *a, **k: shown.append((a, k)),
    )
    monkeypatch.delenv("AECOURSE_BOOK", raising=False)
    prose.glue("gap", 1.5, "{:.1f}")
    assert (
        shown == []
    )  # a live frontend would show "No renderer could be found"
    monkeypatch.setenv("AECOURSE_BOOK", "1")
    prose.glue("gap", 1.5, "{:.1f}")
    ((args, kwargs),) = shown
    assert args == ({prose.GLUE_PREFIX + "text/plain": "1.5"},)
    assert kwargs["raw"] is True
    assert kwargs["metadata"]["scrapbook"] == {
        "name": "gap",
        "mime_prefix": prose.GLUE_PREFIX,
    }


@pytest.mark.parametrize("name", ["", "two words", None, 3])
def test_glue_rejects_a_name_the_role_cannot_quote(name):
    with pytest.raises(ValueError, match="glue name"):
        prose.glue(name, 1.0)
