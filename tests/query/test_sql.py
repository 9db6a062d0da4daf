"""Filters and sorts compiled to SQL, on both backends, against plain-Python answers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.errors import QueryError
from db.engine import session_scope
from db.models import File, Item, Job, Sample
from db.query import compile_predicate, run_query
from tests.catalog_factory import Catalog, build_catalog

Row = dict[str, Any]


def _lower(v: Any) -> str | None:
    return None if v is None else str(v).lower()


def joined_samples(cat: Catalog) -> list[Row]:
    """Sample rows with their file's and item's columns under `file.` / `item.` keys."""
    files = {f["id"]: f for f in cat.files}
    items = {i["id"]: i for i in cat.items}
    out = []
    for s in cat.samples:
        f = files[s["file_id"]]
        i = items.get(f["item_id"], {})
        row = dict(s)
        row.update({f"file.{k}": v for k, v in f.items()})
        row.update({f"item.{k}": i.get(k) for k in ("title", "year", "collection", "creator")})
        out.append(row)
    return out


def joined_files(cat: Catalog) -> list[Row]:
    items = {i["id"]: i for i in cat.items}
    out = []
    for f in cat.files:
        i = items.get(f["item_id"], {})
        row = dict(f)
        row.update({f"item.{k}": i.get(k) for k in ("title", "year", "collection", "creator")})
        out.append(row)
    return out


def _cmp_num(v: Any, op: Callable[[float], bool]) -> bool:
    return v is not None and op(float(v))


SAMPLE_CASES: list[tuple[str, Callable[[Row], bool]]] = [
    ("power>0.5", lambda r: r["power"] > 0.5),
    ("power>=0.5", lambda r: r["power"] >= 0.5),
    ("power<0.25", lambda r: r["power"] < 0.25),
    ("power<=0.25", lambda r: r["power"] <= 0.25),
    ("power=0.5", lambda r: r["power"] == 0.5),
    ("power!=0.5", lambda r: r["power"] != 0.5),
    ("octave>1&power>0", lambda r: r["octave"] > 1 and r["power"] > 0),
    ("octave>=10", lambda r: r["octave"] >= 10),
    ("note=c#", lambda r: r["note"] == "C#"),
    ("note=C", lambda r: r["note"] == "C"),
    ("note~=#", lambda r: "#" in r["note"]),
    ("note!~=#", lambda r: "#" not in r["note"]),
    ("note=-", lambda r: r["note"] == "-"),
    ("hz=0|octave=-1", lambda r: r["hz"] == 0 or r["octave"] == -1),
    ("octave>5|power>0.9&clarity<0.2",
     lambda r: r["octave"] > 5 or (r["power"] > 0.9 and r["clarity"] < 0.2)),
    ("(octave>5|power>0.9)&clarity<0.2",
     lambda r: (r["octave"] > 5 or r["power"] > 0.9) and r["clarity"] < 0.2),
    ("file.medianPower>0.5", lambda r: _cmp_num(r["file.median_power"], lambda v: v > 0.5)),
    ("medianPower>0.5&power<0.1",
     lambda r: _cmp_num(r["file.median_power"], lambda v: v > 0.5) and r["power"] < 0.1),
    ("item.year<1950", lambda r: _cmp_num(r["item.year"], lambda v: v < 1950)),
    ("item.collection=prelinger", lambda r: _lower(r["item.collection"]) == "prelinger"),
    ("item.title~=WAR", lambda r: "war" in (_lower(r["item.title"]) or "")),
    ("item.title!~=war", lambda r: "war" not in (_lower(r["item.title"]) or "")),
    ("item.title?=", lambda r: bool(r["item.title"])),
    ("item.title!?=", lambda r: not r["item.title"]),
    ("item.year!=1950", lambda r: r["item.year"] != 1950),
    ("file.filename~=film_", lambda r: "film_" in r["file.name"].lower()),
    ("item.title~='war of'", lambda r: "war of" in (_lower(r["item.title"]) or "")),
    ("item.title~=100%", lambda r: "100%" in (_lower(r["item.title"]) or "")),
    ("item.title~=under_", lambda r: "under_" in (_lower(r["item.title"]) or "")),
    ("start>1000&start<5000", lambda r: 1000 < r["start"] < 5000),
]  # fmt: skip

FILE_CASES: list[tuple[str, Callable[[Row], bool]]] = [
    ("samples>0", lambda r: r["samples"] > 0),
    ("samples>50&medianPower>0.5",
     lambda r: r["samples"] > 50 and _cmp_num(r["median_power"], lambda v: v > 0.5)),
    ("medianPower?=", lambda r: r["median_power"] is not None),
    ("medianPower!?=", lambda r: r["median_power"] is None),
    ("hasAudio=true", lambda r: r["has_audio"] is True),
    ("hasAudio=false|hasVideo=false", lambda r: not r["has_audio"] or not r["has_video"]),
    ("filename~=FILM_", lambda r: "film_" in r["name"].lower()),
    ("filename='film 00002.mp4'", lambda r: r["name"].lower() == "film 00002.mp4"),
    ("year>=1950", lambda r: _cmp_num(r["item.year"], lambda v: v >= 1950)),
    ("item.year!?=", lambda r: r["item.year"] is None),
    ("collection=FEATURE_FILMS|title~=sea",
     lambda r: _lower(r["item.collection"]) == "feature_films"
     or "sea" in (_lower(r["item.title"]) or "")),
]  # fmt: skip


def _ids(engine: Engine, scope: str, where: str, job_id: int) -> list[int]:
    with session_scope(engine) as s:
        result = run_query(s, scope, job_id=job_id, where=where, columns=["id"])
        return [r[0] for r in result.rows]


def _counts(engine: Engine) -> tuple[int, ...]:
    with session_scope(engine) as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m)) for m in (Job, Item, File, Sample)
        )


@pytest.fixture
def cat(catalog: Engine) -> Catalog:
    other = build_catalog(catalog, seed=99, items=3, name="other")  # another job, never returned
    assert other.samples
    return build_catalog(catalog, seed=7, items=14)


def test_filters_match_python(catalog: Engine, cat: Catalog) -> None:
    samples = joined_samples(cat)
    for expr, want in SAMPLE_CASES:
        expected = sorted(r["id"] for r in samples if want(r))
        assert _ids(catalog, "samples", expr, cat.job_id) == expected, expr
        keep = compile_predicate(expr, "samples")
        assert sorted(r["id"] for r in samples if keep(r)) == expected, f"predicate {expr}"
    files = joined_files(cat)
    for expr, want in FILE_CASES:
        expected = sorted(r["id"] for r in files if want(r))
        assert _ids(catalog, "files", expr, cat.job_id) == expected, expr
        keep = compile_predicate(expr, "files")
        assert sorted(r["id"] for r in files if keep(r)) == expected, f"predicate {expr}"
    items = cat.items
    expected = sorted(i["id"] for i in items if "war" in (_lower(i["title"]) or ""))
    assert _ids(catalog, "items", "title~=war", cat.job_id) == expected


def test_some_cases_select_something(cat: Catalog) -> None:
    """Guard against vacuous checks: most filters select some but not all rows."""
    samples = joined_samples(cat)
    partial = [e for e, want in SAMPLE_CASES if 0 < sum(map(want, samples)) < len(samples)]
    assert len(partial) >= len(SAMPLE_CASES) - 3


def _staged(rows: list[Row], stages: list[tuple[str, bool, float | None]], target: int) -> list:
    for key, desc, trim in stages:
        rows = sorted(rows, key=lambda r: r[key], reverse=desc)  # stable, like the SQL
        if trim is not None:
            keep = int(trim) if trim > 1 else max(math.ceil(len(rows) * trim), target)
            rows = rows[:keep]
    return rows


def test_sorts_with_trims_match_python(catalog: Engine, cat: Catalog) -> None:
    base = sorted(cat.samples, key=lambda r: (r["file_id"], r["start"], r["id"]))
    cases = [
        ("power=desc", [("power", True, None)], None),
        ("power=desc&clarity=asc", [("power", True, None), ("clarity", False, None)], 50),
        ("power=desc=0.75&clarity=desc", [("power", True, 0.75), ("clarity", True, None)], 40),
        ("power=desc=0.1&clarity=desc", [("power", True, 0.1), ("clarity", True, None)], 300),
        ("octave=asc=200&hz=desc", [("octave", False, 200), ("hz", True, None)], None),
        ("note=desc&power=asc=0.5", [("note", True, None), ("power", False, 0.5)], 10),
    ]
    with session_scope(catalog) as s:
        for sort, stages, limit in cases:
            expected = [r["id"] for r in _staged(base, stages, limit or 0)][:limit]
            got = [r[0] for r in run_query(s, "samples", job_id=cat.job_id, sort=sort,
                                           limit=limit, columns=["id"]).rows]  # fmt: skip
            assert got == expected, sort


def test_columns_reach_file_and_item(catalog: Engine, cat: Catalog) -> None:
    files = {f["id"]: f for f in cat.files}
    items = {i["id"]: i for i in cat.items}
    with session_scope(catalog) as s:
        result = run_query(s, "samples", job_id=cat.job_id, where="power>0.9",
                           columns=["id", "file.filename", "item.title", "power"])  # fmt: skip
        rows = list(result.rows)
    assert result.columns == ["id", "file.filename", "item.title", "power"]
    by_id = {r["id"]: r for r in cat.samples}
    assert rows and len(rows) == sum(1 for r in cat.samples if r["power"] > 0.9)
    for sid, fname, title, power in rows:
        f = files[by_id[sid]["file_id"]]
        assert fname == f["name"] and power == by_id[sid]["power"]
        assert title == items.get(f["item_id"], {}).get("title")


@pytest.mark.parametrize(
    "bad",
    [
        "'; DROP TABLE samples; --",
        "power>0; DROP TABLE samples; --",
        "power>0&",
        "nosuch>1",
        'note="x"; DROP TABLE samples; --',
    ],
)
def test_bad_expressions_leave_the_catalog_unchanged(
    catalog: Engine, cat: Catalog, bad: str
) -> None:
    before = _counts(catalog)
    with pytest.raises(QueryError), session_scope(catalog) as s:
        list(run_query(s, "samples", job_id=cat.job_id, where=bad).rows)
    assert _counts(catalog) == before


def test_injection_in_a_value_is_just_text(catalog: Engine, cat: Catalog) -> None:
    before = _counts(catalog)
    assert _ids(catalog, "samples", "note=x'; DROP TABLE samples; --", cat.job_id) == []
    assert _ids(catalog, "files", 'filename~="\'; DROP TABLE files; --"', cat.job_id) == []
    assert _counts(catalog) == before


def test_all_jobs_without_job_id(catalog: Engine, cat: Catalog) -> None:
    with session_scope(catalog) as s:
        everything = [r[0] for r in run_query(s, "items", columns=["id"]).rows]
    assert len(everything) == len(cat.items) + 3
