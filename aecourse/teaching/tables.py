"""Printed output that fits the book's column: prose lines wrapped, wide tables shown as HTML.

Every chapter prints its measurements; this module is the one place that knows how wide the page is.
A line of printed text is shown in a box of ``OUTPUT_CHARS`` monospace characters (the book at a
1280-px window: an output's box is 676 px, of which 2 x 16 px are padding, and a character of the
site's 14-px monospace font is 8.43 px wide: (676 - 32) / 8.43 = 76.4). Wider lines scroll sideways.

- :func:`say` prints a sentence of results wrapped at that width (numbers are never split).
- :func:`show_table` displays a table as HTML in the book and in Jupyter (the browser wraps its cells
  to the column), with a plain-text fallback for a terminal; :func:`show` does the same for a
  :class:`Table` built elsewhere (e.g. by a report module).
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence

# Monospace characters that fit in a printed output's box in the book (see the module docstring);
# tests/test_output_width.py measures the committed chapters with the same number.
OUTPUT_CHARS = 76


def wrap(text: str, width: int = OUTPUT_CHARS) -> str:
    """``text`` with each of its lines wrapped at ``width`` characters, between words only.

    Lines already short enough, and blank lines, are kept as they are; a continuation line is
    indented by two spaces, so a wrapped sentence reads as one. A word longer than ``width`` (a
    number, a path) is never cut. Raises ValueError unless width is an integer of at least 20.
    """
    if (
        isinstance(width, bool)
        or not isinstance(width, int)
        or width < 20
    ):
        raise ValueError(f"width must be an integer >= 20, got {width!r}")
    if not isinstance(text, str):
        raise ValueError(
            f"text must be a string, got {type(text).__name__}"
        )
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        lines.extend(
            textwrap.wrap(
                line,
                width=width,
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def say(*parts, sep: str = " ", width: int = OUTPUT_CHARS) -> None:
    """``print(*parts, sep=sep)``, wrapped at ``width`` characters (see :func:`wrap`)."""
    print(wrap(sep.join(str(p) for p in parts), width))


class Table:
    """A table that Jupyter shows as HTML and ``print`` (or a terminal) shows as aligned text.

    columns: n header strings; rows: a sequence of rows of n cells each (any values; a float is
    formatted with ``floatfmt``, e.g. ``"{:.3f}"``). title: an optional caption.
    Raises ValueError for no columns or a row of another length.
    """

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence],
        title: str | None = None,
        floatfmt: str = "{:.3g}",
    ):
        columns = [str(c) for c in columns]
        if not columns:
            raise ValueError("a table needs at least one column")
        rows = [list(r) for r in rows]
        for i, row in enumerate(rows):
            if len(row) != len(columns):
                raise ValueError(
                    f"row {i} has {len(row)} cells, expected {len(columns)} "
                    f"(one per column: {columns})"
                )
        self.columns, self.title, self.floatfmt = columns, title, floatfmt
        self.rows = [[self._cell(v) for v in row] for row in rows]

    def _cell(self, value) -> str:
        if isinstance(value, float):
            return self.floatfmt.format(value)
        return "" if value is None else str(value)

    def text(self) -> str:
        """The plain-text table: columns two spaces apart, the first left-aligned, the others right."""
        widths = [
            max(len(c), *(len(r[j]) for r in self.rows))
            if self.rows
            else len(c)
            for j, c in enumerate(self.columns)
        ]

        def line(cells):
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
            return "  ".join([first, *rest]).rstrip()

        out = [line(self.columns)] + [line(r) for r in self.rows]
        return "\n".join(([wrap(self.title)] if self.title else []) + out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = (
            f"<caption>{esc(self.title)}</caption>" if self.title else ""
        )
        return (
            f'<table class="aecourse-table">{caption}'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def show(table: Table) -> None:
    """Display ``table``: HTML in Jupyter and the book, its text elsewhere.

    Returns None, as IPython's ``display`` does, so that a cell ending in this call shows the table once.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # no IPython: a plain script
        print(table.text())
        return
    if get_ipython() is None:
        print(table.text())
    else:
        display(table)


def show_table(
    columns: Sequence[str],
    rows: Sequence[Sequence],
    title: str | None = None,
    floatfmt: str = "{:.3g}",
) -> None:
    """Display a :class:`Table` of these columns and rows (see :func:`show`).

    columns: n headers; rows: rows of n cells. Outside IPython the text is printed instead.
    """
    show(Table(columns, rows, title, floatfmt))
