"""Tests of aecourse.teaching.tables: wrapped prose lines and HTML tables with a text fallback."""

import textwrap

import pytest

from aecourse.teaching import tables
from aecourse.teaching.tables import (
    OUTPUT_CHARS,
    Table,
    say,
    show_table,
    wrap,
)

SENTENCE = (
    "linear classifier trained on 20,000 real images: accuracy 91.7% on real "
    "test digits, 99.2% on the conditional VAE's samples (1 000, the digit asked "
    "for as label)"
)


def test_wrap_matches_textwrap_and_keeps_every_word():
    out = wrap(SENTENCE)
    expected = textwrap.wrap(
        SENTENCE,
        OUTPUT_CHARS,
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    assert out.split("\n") == expected
    assert all(len(line) <= OUTPUT_CHARS for line in out.split("\n"))
    assert out.split() == SENTENCE.split()  # nothing lost, no word cut
    assert "20,000" in out and "91.7%" in out


def test_wrap_keeps_short_lines_blank_lines_and_long_words():
    text = "short line\n\n  indented table row    1.0    2.0"
    assert wrap(text) == text
    word = "x" * 100
    assert wrap(f"a {word} b", 30) == f"a\n  {word}\n  b"


def test_wrap_hand_computed():
    assert wrap("aaaa bbbb cccc dddd eeee ffff", 20) == (
        "aaaa bbbb cccc dddd\n  eeee ffff"
    )


@pytest.mark.parametrize("width", [0, 19, 3.5, True, "76"])
def test_wrap_rejects_a_bad_width(width):
    with pytest.raises(ValueError, match="width"):
        wrap("text", width)


def test_wrap_rejects_a_non_string():
    with pytest.raises(ValueError, match="string"):
        wrap(3.0)


def test_say_prints_the_wrapped_text(capsys):
    say("a", 1, 2.5, sep=", ")
    assert capsys.readouterr().out == "a, 1, 2.5\n"
    say(SENTENCE)
    assert capsys.readouterr().out == wrap(SENTENCE) + "\n"


def test_table_text_is_aligned():
    t = Table(
        ["model", "error", "n"],
        [["pca", 0.12345, 3], ["deep AE", 1.5, 10]],
    )
    assert (
        t.text()
        == (
            "model    error   n\n"  # first column left, others right, two spaces apart
            "pca      0.123   3\n"
            "deep AE    1.5  10"
        )
    )
    assert str(t) == repr(t) == t.text()


def test_table_html_escapes_and_has_every_cell():
    t = Table(
        ["a<b", "x"], [["1 & 2", 0.5]], title="t", floatfmt="{:.2f}"
    )
    assert t._repr_html_() == (
        '<table class="aecourse-table"><caption>t</caption>'
        "<thead><tr><th>a&lt;b</th><th>x</th></tr></thead>"
        "<tbody><tr><td>1 &amp; 2</td><td>0.50</td></tr></tbody></table>"
    )


def test_table_rejects_bad_shapes():
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="at least one column"):
        Table([], [])


def test_show_table_prints_text_outside_ipython(capsys):
    assert show_table(["a", "b"], [[1, None]]) is None
    assert capsys.readouterr().out == "a  b\n1\n"


def test_show_table_displays_html_inside_ipython(monkeypatch):
    shown = []
    import IPython
    import IPython.display

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    # None, as display returns: a cell ending in the call shows the table once
    assert show_table(["a"], [[1]]) is None
    assert len(shown) == 1 and isinstance(shown[0], Table)
    assert shown[0].columns == ["a"] and shown[0].rows == [["1"]]
    built = Table(["b"], [[2]])
    assert tables.show(built) is None and shown[1] is built
    assert tables.OUTPUT_CHARS == 76
