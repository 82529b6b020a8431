"""Tables and the terminal: one helper so every command's tables look alike, and the console that
prints them.

Tables are rich Tables, or, when long (or asked for), laid out here as plain text (PlainText) with
the same look. `console()` prints plain text itself and hands anything else to a rich Console, which
it creates (and imports rich for: about 45 ms) only then: `memdive ps` and `memdive sys` print only
plain text, so they never pay for rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence


def _rich_console(file=None, width: int | None = None):
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich exits with status 1 here; a reader that stops early (memdive maps PID | head) is
            # not an error: the CLI maps BrokenPipeError to exit 0 and silences the rest.
            self.quiet = True
            raise BrokenPipeError

    return _Console(file=file, highlight=False, soft_wrap=False, width=width)


class Output:
    """What commands print with: `.print(obj)` as rich's Console.print. PlainText and WrappedRows are
    written here (bold as ANSI on a terminal, as rich would: not with NO_COLOR or TERM=dumb, always with
    FORCE_COLOR); anything else goes through a rich Console made on first use. Width: COLUMNS, else the
    terminal's, else 200 when the output is not a terminal (lines are not folded at 80 columns)."""

    def __init__(self, file=None):
        self.file = file
        out = file or sys.stdout
        tty = out.isatty()
        self.width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
        if self.width is None:
            try:
                self.width = os.get_terminal_size(out.fileno()).columns if tty else 200
            except (OSError, ValueError, AttributeError):
                self.width = 80 if tty else 200
        self.bold = bool(os.environ.get("FORCE_COLOR")) or (
            tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb")
        self._rich = None
        self._capturing = 0

    def __getattr__(self, name: str):   # anything else rich's Console offers
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.rich, name)

    def capture(self):
        """rich's Console.capture: everything printed meanwhile goes through rich, into the capture."""
        import contextlib

        @contextlib.contextmanager
        def cap():
            self._capturing += 1
            try:
                with self.rich.capture() as c:
                    yield c
            finally:
                self._capturing -= 1

        return cap()

    @property
    def rich(self):
        if self._rich is None:
            self._rich = _rich_console(self.file, self.width)
        return self._rich

    def print(self, *objects, **kw) -> None:
        """rich's Console.print; one PlainText or WrappedRows (or nothing: a blank line) is written here."""
        obj = objects[0] if len(objects) == 1 else None
        if kw or self._capturing or len(objects) > 1 or (objects and not isinstance(obj, (PlainText, WrappedRows))):
            self.rich.print(*objects, **kw)
            return
        out = self.file or sys.stdout
        if obj is None:
            out.write("\n")
            return
        plain = obj if isinstance(obj, PlainText) else obj.plain(self.width)
        b0, b1 = ("\x1b[1m", "\x1b[0m") if self.bold else ("", "")
        lines = [cut(ln, self.width) for ln in plain.text.split("\n")]
        out.write("\n".join(b0 + ln + b1 if i in plain.bold else ln for i, ln in enumerate(lines)) + "\n")


def console(file=None) -> Output:
    """Where a command prints (see Output)."""
    return Output(file)


def _cell(ch: str) -> int:
    import unicodedata

    if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def cut(line: str, width: int) -> str:
    """The line, cut to `width` terminal cells with "…" when longer (East Asian wide characters count two)."""
    if line.isascii():
        return line if len(line) <= width else line[:width - 1] + "…"
    cells = [_cell(ch) for ch in line]
    if sum(cells) <= width:
        return line
    used = 0
    for i, w in enumerate(cells):
        if used + w > width - 1:
            return line[:i] + "…"
        used += w
    return line


# Past this many rows a table is laid out here rather than by rich: rich.Table costs about 0.6 ms a
# row (measured: 250 ms for `memdive ps` on 360 processes, against 3 ms here), and a long table gains
# nothing from its width fitting. Same look: bold header and footer, the last column cut with "…"
# at the console's width.
PLAIN_ROWS = 40


class PlainText:
    """Pre-laid-out table text that rich prints line by line: bold `bold` lines, each line cut to the
    console's width with "…" (as rich cuts a table's last column), no wrapping, no markup."""

    def __init__(self, text: str, bold: Iterable[int] = (), title: str | None = None):
        self.text = text
        self.bold = frozenset(bold)
        self.title = title          # a table's title (its first line), as rich.Table.title

    def __str__(self) -> str:
        return self.text

    def __rich_console__(self, console, options):
        from rich.segment import Segment
        from rich.style import Style

        width, bold, nl = options.max_width, Style(bold=True), Segment.line()
        for i, line in enumerate(self.text.split("\n")):
            yield Segment(cut(line, width), bold if i in self.bold else None)
            yield nl


class WrappedRows:
    """A label per row and its cells, joined by ", " and wrapped at the console's width under the
    cells' column: never cut, however narrow the terminal (the vmstat block of `memdive sys`)."""

    def __init__(self, title: str | None, rows: Sequence[tuple[str, Sequence[str]]]):
        self.title, self.rows = title, rows

    def lines(self, width: int) -> list[str]:
        lw = max((len(k) for k, _ in self.rows), default=0)
        out = [self.title] if self.title else []
        for key, cells in self.rows:
            cur, start = key.ljust(lw) + "  ", True
            for c in cells:
                if start:
                    cur, start = cur + c, False
                elif len(cur) + 2 + len(c) > width:
                    out.append(cur + ",")
                    cur = " " * (lw + 2) + c
                else:
                    cur += ", " + c
            out.append(cur.rstrip())
        return out

    def plain(self, width: int) -> PlainText:
        return PlainText("\n".join(self.lines(width)), bold=(0,) if self.title else ())

    def __str__(self) -> str:
        return "\n".join(self.lines(10 ** 6))

    def __rich_console__(self, console, options):
        yield self.plain(options.max_width)


def plain_table(title, columns, rows, right=None, footer=None) -> PlainText:
    right = set(right or ())
    allrows = [tuple(columns)] + list(rows) + ([tuple(str(x) for x in footer)] if footer is not None else [])
    widths = [max(len(r[i]) for r in allrows) for i in range(len(columns))]
    last = len(columns) - 1

    def fmt(r) -> str:   # two spaces between columns, as rich's tables here; the last column unpadded
        return "  ".join(r[i].rjust(widths[i]) if i in right else (r[i] if i == last else r[i].ljust(widths[i]))
                         for i in range(len(columns))).rstrip()

    out = ([title] if title else []) + [fmt(r) for r in allrows]
    first = 1 if title else 0
    return PlainText("\n".join(out), bold=(first, len(out) - 1) if footer is not None else (first,), title=title)


def side_by_side(*blocks: PlainText, gap: int = 4) -> PlainText:
    """Plain tables next to each other, tops aligned (rich.Columns takes 13 ms for two small tables)."""
    cols = [b.text.split("\n") for b in blocks]
    widths = [max(len(ln) for ln in c) for c in cols]
    height = max(len(c) for c in cols)
    lines = [(" " * gap).join((c[i] if i < len(c) else "").ljust(w) for c, w in zip(cols, widths)).rstrip()
             for i in range(height)]
    return PlainText("\n".join(lines), bold=set().union(*(b.bold for b in blocks)))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]],
          right: Iterable[int] | None = None, footer: Sequence[object] | None = None, plain: bool = False):
    """A rich Table; numeric columns (indexes in `right`) are right-aligned. Past PLAIN_ROWS rows, or with
    `plain`, the same layout as plain text (rich lays out a 60,000-row table in a minute; this takes a
    blink), which `side_by_side` can put next to another."""
    cells = [tuple(str(x) for x in r) for r in rows]
    if plain or len(cells) > PLAIN_ROWS:
        return plain_table(title, columns, cells, right, footer)
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_footer=footer is not None, box=None,
              header_style="bold", pad_edge=False)
    right = set(right or ())
    last = len(columns) - 1
    for i, c in enumerate(columns):
        # Every column but the last keeps its full width; the last one takes the rest and is cut with "…".
        need = max([len(c)] + [len(r[i]) for r in cells] + ([len(str(footer[i]))] if footer is not None else []))
        t.add_column(c, justify="right" if i in right else "left",
                     footer=str(footer[i]) if footer is not None else "", no_wrap=True,
                     overflow="ellipsis" if i == last else "fold", ratio=1 if i == last else None,
                     min_width=None if i == last else need)
    for r in cells:
        t.add_row(*r)
    return t
