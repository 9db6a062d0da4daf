"""The filter and sort language without a database: names, errors with carets, predicates."""

from __future__ import annotations

import pytest

from core.errors import QueryError
from db.query import (
    ExpressionError,
    compile_filter,
    compile_predicate,
    parse_sort,
    resolve,
    valid_names,
)


def caret_column(message: str) -> int:
    """Where the caret sits under the echoed expression (both are indented by two spaces)."""
    lines = message.splitlines()
    return lines[2].index("^") - 2


def test_names_map_camel_case_snake_case_and_parents() -> None:
    assert resolve("medianPower", "files").attr == "median_power"
    assert resolve("median_power", "files").attr == "median_power"
    assert resolve("MEDIANPOWER", "files").attr == "median_power"
    assert resolve("file.medianPower", "samples").table == "files"
    assert resolve("item.year", "samples").table == "items"
    assert resolve("year", "files").table == "items"  # bare parent names reach the item
    assert resolve("filename", "files").attr == "name"
    assert resolve("hasAudio", "files").kind == "bool"
    assert resolve("id", "samples").table == "samples"  # own scope wins
    assert resolve("file.power", "samples") is None
    assert resolve("file.samples", "items") is None
    assert "file.medianPower" in valid_names("samples")
    assert "item.collection" in valid_names("files")
    assert not any(n.startswith("file.") for n in valid_names("items"))


@pytest.mark.parametrize(
    ("expr", "scope", "pos", "problem", "lists_names"),
    [
        ("foo>1&power>0", "samples", 0, "unknown column 'foo'", True),
        ("power>0&octave>1&bogus=2", "samples", 17, "unknown column 'bogus'", True),
        ("power>", "samples", 6, "expected a value", False),
        ("power>1&", "samples", 8, "expected a condition", False),
        ("power>1|", "samples", 8, "expected a condition", False),
        ("'; DROP TABLE samples; --", "samples", 0, "expected a column name", True),
        ("title='; DROP TABLE samples; --", "files", 6, "unterminated quoted value", False),
        ("power~=1", "samples", 5, "~= needs a text column", False),
        ("(power>1", "samples", 8, "expected ')'", False),
        ("power>1)", "samples", 7, "unexpected ')'", False),
        ("power 1", "samples", 6, "expected an operator", False),
        ("power=loud", "samples", 6, "power is a number", False),
        ("hasAudio>1", "files", 8, "true/false", False),
        ("hasAudio=maybe", "files", 9, "true/false", False),
        ("file.power>1", "samples", 0, "unknown column 'file.power'", True),
        ("samples>1", "items", 0, "unknown column 'samples'", True),
    ],
)
def test_bad_filters_point_at_the_token(
    expr: str, scope: str, pos: int, problem: str, lists_names: bool
) -> None:
    with pytest.raises(QueryError) as info:
        compile_filter(expr, scope)
    err = info.value
    assert isinstance(err, ExpressionError)
    assert problem in str(err)
    assert err.position == pos
    assert caret_column(str(err)) == pos
    assert str(err).splitlines()[1] == f"  {expr}"
    if lists_names:
        assert err.valid_names == valid_names(scope)
        assert "valid names: " in str(err)
        assert "power" in str(err) or scope != "samples"
    with pytest.raises(QueryError):
        compile_predicate(expr, scope)


ROW = {"power": 0.6, "octave": 2, "note": "C#", "hz": 0.0, "clarity": 0.25, "dur": 300.0}
FILE = {"samples": 600, "median_power": 0.7, "name": "Night Train.MP4", "has_audio": True,
        "title": None, "item.title": "The WAR of the Worlds", "item.year": 1953}  # fmt: skip


@pytest.mark.parametrize(
    ("expr", "scope", "row", "expected"),
    [
        ("power>0.5", "samples", ROW, True),
        ("power>=0.6", "samples", ROW, True),
        ("power<0.6", "samples", ROW, False),
        ("power<=0.6", "samples", ROW, True),
        ("power=0.6", "samples", ROW, True),
        ("power!=0.6", "samples", ROW, False),
        ("octave>10", "samples", ROW, False),  # 2 vs 10 as numbers, not "2" > "10" as text
        ("note=c#", "samples", ROW, True),  # text is case-insensitive
        ("note!=C#", "samples", ROW, False),
        ("note~=#", "samples", ROW, True),
        ("note!~=#", "samples", ROW, False),
        ("note?=", "samples", ROW, True),
        ("note!?=", "samples", ROW, False),
        ("hz?=", "samples", ROW, True),  # 0 is a value, not empty
        ("octave>1&power>0", "samples", ROW, True),
        ("octave>2|power>0.5", "samples", ROW, True),
        ("octave>2|power>0.9&clarity<1", "samples", ROW, False),  # & binds tighter than |
        ("(octave>2|power>0.5)&clarity>0.5", "samples", ROW, False),
        ("octave>2|(power>0.5&clarity<0.5)", "samples", ROW, True),
        ("samples>500&medianPower>0.5", "files", FILE, True),
        ("filename~=night", "files", FILE, True),
        ('filename="night train.mp4"', "files", FILE, True),
        ("filename='NIGHT TRAIN.mp4'", "files", FILE, True),
        ("item.title~=war", "files", FILE, True),
        ("title~='war of'", "files", FILE, True),
        ("item.year<1950", "files", FILE, False),
        ("hasAudio=true", "files", FILE, True),
        ("hasAudio=no", "files", FILE, False),
        ("item.creator?=", "files", FILE, False),  # missing key: empty
        ("item.creator!?=", "files", FILE, True),
        ("item.creator!=x", "files", FILE, True),  # empty differs from any value
        ("item.creator!~=x", "files", FILE, True),
        ("item.creator=x", "files", FILE, False),
        ("item.creator<x", "files", FILE, False),
    ],
)
def test_predicate_semantics(expr: str, scope: str, row: dict, expected: bool) -> None:
    assert compile_predicate(expr, scope)(row) is expected


def test_predicate_filters_analysis_rows() -> None:
    rows = [
        {"start": 0.0, "dur": 100.0, "power": 0.1, "hz": 220.0, "note": "A", "octave": 3,
         "midi": 57.0, "clarity": 0.5},
        {"start": 100.0, "dur": 50.0, "power": 0.9, "hz": 0.0, "note": "-", "octave": -1,
         "midi": 0.0, "clarity": 0.1},
    ]  # fmt: skip
    keep = compile_predicate("octave>1&power>0")
    assert [r["start"] for r in rows if keep(r)] == [0.0]
    assert all(compile_predicate("")(r) for r in rows)


def test_sort_expressions() -> None:
    keys = parse_sort("power=desc=0.75&clarity=desc", "samples")
    assert [(k.column.attr, k.descending, k.trim) for k in keys] == [
        ("power", True, 0.75),
        ("clarity", True, None),
    ]
    (rnd,) = parse_sort("random=42", "samples")
    assert rnd.is_random and rnd.seed == 42
    assert parse_sort("file.medianPower=asc=100", "samples")[0].trim == 100
    assert parse_sort("", "samples") == []


@pytest.mark.parametrize(
    ("expr", "pos", "problem"),
    [
        ("power=up", 6, "asc or desc"),
        ("power=desc=0", 11, "trim"),
        ("power=desc=x", 11, "trim"),
        ("bogus=asc", 0, "unknown column 'bogus'"),
        ("power=desc&&clarity=asc", 11, "empty sort stage"),
        ("power", 0, "expected key=asc|desc"),
        ("random=abc", 7, "integer seed"),
    ],
)
def test_bad_sorts(expr: str, pos: int, problem: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_sort(expr, "samples")
    assert problem in str(info.value)
    assert info.value.position == pos
    assert caret_column(str(info.value)) == pos
