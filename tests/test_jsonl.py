"""JSONL plumbing: located read errors, atomic writes, flushed appends and torn-tail repair."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError, Location
from pipeline.jsonl import count_lines, read_jsonl
from pipeline.jsonvalue import check_value
from pipeline.writes import Appender, atomic_write, repair_torn_tail, write_jsonl


def test_read_yields_line_numbers_and_skips_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (3, {"a": 2})]


def test_read_error_names_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(InputError, match=r"^shown.jsonl:2: invalid JSON"):
        list(read_jsonl(path, "shown.jsonl"))


def test_read_collects_every_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{bad\n\xff\n{"a": 4}\n')
    errors = []
    assert [n for n, _ in read_jsonl(path, on_error=errors.append)] == [1, 4]
    assert [e.where.line for e in errors] == [2, 3]


def test_torn_tail_tolerated_only_when_asked(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, "b"')
    assert list(read_jsonl(path, tolerate_torn_tail=True)) == [(1, {"a": 1})]
    with pytest.raises(InputError):
        list(read_jsonl(path))


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"v": 1}])
    with pytest.raises(RuntimeError), atomic_write(path) as handle:
        handle.write("half")
        raise RuntimeError("crash")
    assert path.read_text() == '{"v":1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_appender_repairs_torn_tail(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"a":1}\n{"a":2,"tor')
    with Appender(path) as out:
        assert out.repaired
        out.write({"a": 3})
    assert path.read_text() == '{"a":1}\n{"a":3}\n'
    assert count_lines(path) == 2


def test_repair_without_any_newline_empties_the_file(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"a":')
    assert repair_torn_tail(path)
    assert path.read_text() == ""
    assert not repair_torn_tail(path)


def test_one_check_names_depth_and_lone_surrogates_under_the_field_it_is_given():
    where = Location("export.json", None, "[0].data.example")
    with pytest.raises(InputError, match=r"^export.json: \[0\]\.data\.example\.messages\[1\]: holds a lone surrogate"):
        check_value({"messages": ["fine", "\ud800"]}, where)
    with pytest.raises(
        InputError, match=r"^export.json: \[0\]\.data\.example\[0\]\[0\]\[0\]: nested deeper than 2 levels"
    ):
        check_value([[["x"]]], where, max_depth=2)
    check_value([["x"]], where, max_depth=2)
    with pytest.raises(InputError, match=r"^in\.jsonl:3: \\udc00: holds a lone surrogate"):  # the same words per line
        check_value({"\udc00": 1}, Location("in.jsonl", 3))
