"""rich tables: one helper so every command's tables look alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def console(file=None):
    """A rich Console; when output is not a terminal, lines are not folded at 80 columns."""
    import os
    import sys

    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits with status 1 here; a reader that stops early (memdive maps PID | head) is
            # not an error: the CLI maps BrokenPipeError to exit 0 and silences the rest.
            self.quiet = True
            raise BrokenPipeError

    out = file or sys.stdout
    width = None
    if not out.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return _Console(file=file, highlight=False, soft_wrap=False, width=width)


PLAIN_ROWS = 400


class PlainText:
    """Pre-laid-out text that rich prints as it is (no wrapping, no markup, one segment per line)."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        nl = Segment.line()
        for line in self.text.split("\n"):
            yield Segment(line)
            yield nl


def plain_table(title, columns, rows, right=None, footer=None) -> PlainText:
    right = set(right or ())
    allrows = [tuple(columns)] + list(rows) + ([tuple(str(x) for x in footer)] if footer is not None else [])
    widths = [max(len(r[i]) for r in allrows) for i in range(len(columns))]
    last = len(columns) - 1

    def fmt(r) -> str:
        return " ".join(r[i] if i == last else (r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]))
                        for i in range(len(columns)))

    out = ([title] if title else []) + [fmt(r) for r in allrows]
    return PlainText("\n".join(out))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]],
          right: Iterable[int] | None = None, footer: Sequence[object] | None = None):
    """A rich Table; numeric columns (indexes in `right`) are right-aligned. Past PLAIN_ROWS rows, the
    same layout as plain text (rich lays out a 60,000-row table in a minute; this takes a blink)."""
    rows = [tuple(str(x) for x in r) for r in rows]
    if len(rows) > PLAIN_ROWS:
        return plain_table(title, columns, rows, right, footer)
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_footer=footer is not None, box=None,
              header_style="bold", pad_edge=False)
    right = set(right or ())
    last = len(columns) - 1
    for i, c in enumerate(columns):
        # Every column but the last keeps its full width; the last one takes the rest and is cut with "…".
        need = max([len(c)] + [len(r[i]) for r in rows] + ([len(str(footer[i]))] if footer is not None else []))
        t.add_column(c, justify="right" if i in right else "left",
                     footer=str(footer[i]) if footer is not None else "", no_wrap=True,
                     overflow="ellipsis" if i == last else "fold", ratio=1 if i == last else None,
                     min_width=None if i == last else need)
    for r in rows:
        t.add_row(*r)
    return t
