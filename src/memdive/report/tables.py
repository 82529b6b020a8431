"""Tables and the terminal: one helper so every command's tables look alike, and the console that
prints them.

Tables are laid out here as plain text (PlainText): bold header (and footer), columns two spaces
apart, the last column cut with "…" at the terminal's width. `console()` prints plain text and
strings itself (strings literally, never as markup, wrapped at the width) and hands anything else
(the colours of `maps --layout`, the benchmark report) to a rich Console, which it creates, and
imports rich for (about 45 ms), only then: most commands never pay for rich.
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
        """rich's Console.print. One PlainText or WrappedRows, one string (printed literally: no markup,
        whatever `markup` says, wrapped at the width as rich wraps) or nothing (a blank line) is
        written here; anything else goes through rich."""
        obj = objects[0] if len(objects) == 1 else None
        text = type(obj) is str and not set(kw) - {"markup"}
        if text and self._capturing:
            self.rich.print(obj, markup=False)
            return
        if not text and (kw or self._capturing or len(objects) > 1 or
                         (objects and not isinstance(obj, (PlainText, WrappedRows)))):
            self.rich.print(*objects, **kw)
            return
        out = self.file or sys.stdout
        if obj is None:
            out.write("\n")
            return
        if type(obj) is str:
            out.write("\n".join(wrap(obj, self.width)) + "\n")
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


def wrap(text: str, width: int) -> list[str]:
    """Lines of `text` no wider than `width`, broken at spaces (a word longer than a line is split), as
    rich wraps a string; its own line breaks are kept."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        import textwrap

        out += textwrap.wrap(line, width, break_on_hyphens=False) or [""]
    return out


class PlainText:
    """Pre-laid-out table text that rich prints line by line: bold `bold` lines, each line cut to the
    console's width with "…" (as rich cuts a table's last column), no wrapping, no markup."""

    def __init__(self, text: str, bold: Iterable[int] = (), title: str | None = None,
                 row_count: int | None = None):
        self.text = text
        self.bold = frozenset(bold)
        self.title = title          # a table's title (its first line), as rich.Table.title
        self.row_count = row_count  # a table's body rows (header and footer not counted), as rich.Table's

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
    return PlainText("\n".join(out), bold=(first, len(out) - 1) if footer is not None else (first,), title=title,
                     row_count=len(rows))


def side_by_side(*blocks: PlainText, gap: int = 4) -> PlainText:
    """Plain tables next to each other, tops aligned (rich.Columns takes 13 ms for two small tables)."""
    cols = [b.text.split("\n") for b in blocks]
    widths = [max(len(ln) for ln in c) for c in cols]
    height = max(len(c) for c in cols)
    lines = [(" " * gap).join((c[i] if i < len(c) else "").ljust(w) for c, w in zip(cols, widths)).rstrip()
             for i in range(height)]
    return PlainText("\n".join(lines), bold=set().union(*(b.bold for b in blocks)))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]],
          right: Iterable[int] | None = None, footer: Sequence[object] | None = None) -> PlainText:
    """A table as plain text (PlainText): numeric columns (indexes in `right`) right-aligned, a bold header
    and footer, which `side_by_side` can put next to another. Laid out here rather than by rich.Table,
    which costs about 0.6 ms a row (250 ms for `memdive ps` on 360 processes, against 3 ms here) and
    45 ms to import."""
    return plain_table(title, columns, [tuple(str(x) for x in r) for r in rows], right, footer)
