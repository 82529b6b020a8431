"""The plain-text table layouts (report.tables): long tables, side by side, wrapped rows."""

from __future__ import annotations

import io

from memdive.report.tables import (
    PlainText,
    WrappedRows,
    console,
    plain_table,
    side_by_side,
    table,
)


def _render(obj, width: int) -> list[str]:
    buf = io.StringIO()
    c = console(file=buf)
    c.width = width
    c.print(obj)
    return buf.getvalue().rstrip("\n").split("\n")


def test_tables_are_plain_text_with_bold_header_and_footer():
    rows = [(i, "root", "x" * i) for i in range(41)]
    t = table("title", ["PID", "User", "Command"], rows, right=(0,), footer=["", "n", "total"])
    assert isinstance(t, PlainText)
    lines = str(t).split("\n")
    assert lines[0] == "title" and lines[1].split() == ["PID", "User", "Command"]
    assert lines[2] == "  0  root" and lines[3] == "  1  root  x" and lines[-1].split() == ["n", "total"]
    assert t.bold == {1, len(lines) - 1}                        # header and footer
    assert isinstance(table(None, ["a"], [("1",)] * 3), PlainText)   # short ones too: rich is never imported


def test_strings_print_literally_and_wrap_at_the_width():
    # was (through rich): markup interpreted, so a mapping named "[heap]" or a comm "[x]" vanished
    line = "note: [heap] and [bold]x[/bold] stay as written " + "word " * 20
    out = _render(line, 40)
    assert all(len(ln) <= 40 for ln in out) and len(out) > 2
    assert " ".join(out).split() == line.split()               # every word, none cut ("…" is for tables)
    assert _render("a\n\n  b", 40) == ["a", "", "  b"]          # its own line breaks and indent kept


def test_plain_right_aligns_a_numeric_last_column_and_cuts_at_the_console_width():
    t = plain_table(None, ["name", "bytes"], [("a", "1"), ("bb", "100")], right=(1,))
    assert str(t).split("\n") == ["name  bytes", "a         1", "bb      100"]
    long = plain_table(None, ["PID", "Command"], [("1", "y" * 100)])
    out = _render(long, 40)
    assert out[1] == ("1    " + "y" * 100)[:39] + "…" and all(len(ln) <= 40 for ln in out)


def test_side_by_side_keeps_tops_aligned():
    a = plain_table("A", ["k", "v"], [("one", "1"), ("two", "2"), ("three", "3")], right=(1,))
    b = plain_table("B", ["k", "v"], [("x", "10")], right=(1,))
    lines = str(side_by_side(a, b, gap=3)).split("\n")
    width_a = max(len(ln) for ln in str(a).split("\n"))
    assert lines[0] == "A".ljust(width_a) + "   B"
    assert lines[2].endswith("   x  10") and lines[4] == "three  3"
    assert side_by_side(a, b).bold == {1}


def test_wrapped_rows_never_cut_a_counter():
    cells = [f"counter_{i} {i * 1000:,}" for i in range(12)]
    w = WrappedRows("vmstat", [("reclaim", cells), ("oom", ["oom_kill 1"])])
    for width in (40, 60, 200):
        out = _render(w, width)
        assert all(len(ln) <= width for ln in out), width
        text = " ".join(out)
        assert all(c in text for c in cells) and "…" not in text
        assert out[1].startswith("reclaim  counter_0 0,") and out[-1] == "oom      oom_kill 1"
        assert all(ln.startswith(" " * 9) for ln in out[2:-1])   # continuation under the cells
