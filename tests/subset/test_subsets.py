"""Subsets on both backends against a plain-Python reading of the reference semantics."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.errors import ConfigError, NotFoundError
from db.engine import session_scope
from db.models import Subset, SubsetMember
from db.query.ranking import random_key_py
from db.subsets import SubsetParams, create_subset, load_subset, members_digest, select_subset
from tests.catalog_factory import Catalog, build_catalog

Row = dict[str, Any]
Stage = tuple[str, bool, float | None]


def _stages(rows: list[Row], stages: list[Stage], target: int | None) -> list[Row]:
    for key, desc, trim in stages:
        rows = sorted(rows, key=lambda r: r[key], reverse=desc)
        if trim is not None:
            keep = int(trim) if trim > 1 else max(math.ceil(len(rows) * trim), target or 0)
            rows = rows[:keep]
    return rows


def reference_subset(
    cat: Catalog,
    file_ok: Callable[[Row], bool],
    sample_ok: Callable[[Row], bool],
    stages: list[Stage],
    flim: int | None,
    lim: int | None,
) -> list[int]:
    """Each passing file's samples filtered, staged, cut to flim; the union staged, cut to lim."""
    files = sorted((f for f in cat.files if file_ok(f)), key=lambda f: f["id"])
    if flim is None and lim is not None and files:
        flim = math.ceil(lim / len(files))
    picked: list[Row] = []
    for f in files:
        rows = [s for s in cat.samples if s["file_id"] == f["id"] and sample_ok(s)]
        rows = _stages(sorted(rows, key=lambda r: (r["start"], r["id"])), stages, flim)
        picked += rows[:flim]
    picked.sort(key=lambda r: (r["file_id"], r["start"], r["id"]))
    return [r["id"] for r in _stages(picked, stages, lim)][:lim]


def _median_power(f: Row) -> float:
    return f["median_power"] if f["median_power"] is not None else -1.0


REFERENCE = dict(
    filter="samples>500&medianPower>0.5",
    ffilter="octave>1&power>0",
    fsort="power=desc=0.75&clarity=desc",
)


@pytest.fixture
def big(catalog: Engine) -> Catalog:
    """Files with 300–1200 samples so the reference's own figures select something."""
    return build_catalog(catalog, seed=3, items=16, files_per_item=(1, 2),
                         samples_per_file=(300, 1200), vectors=False)  # fmt: skip


def test_reference_example_exact_figures(catalog: Engine, big: Catalog) -> None:
    def file_ok(f: Row) -> bool:
        return f["samples"] > 500 and _median_power(f) > 0.5

    def sample_ok(s: Row) -> bool:
        return s["octave"] > 1 and s["power"] > 0

    stages = [("power", True, 0.75), ("clarity", True, None)]
    assert 2 <= sum(map(file_ok, big.files)) < len(big.files)
    for flim, lim in [(100, 16384), (100, 700), (None, 900), (40, None)]:
        spec = SubsetParams(name="ref", flim=flim, lim=lim, **REFERENCE)
        expected = reference_subset(big, file_ok, sample_ok, stages, flim, lim)
        with session_scope(catalog) as s:
            got = select_subset(s, big.job_id, spec)
        assert got == expected, (flim, lim)
        assert len(set(got)) == len(got)


@pytest.fixture
def cat(catalog: Engine) -> Catalog:
    build_catalog(catalog, seed=11, items=2, name="other")
    return build_catalog(catalog, seed=5, items=14, samples_per_file=(0, 60))


def test_scaled_examples_and_limits(catalog: Engine, cat: Catalog) -> None:
    def any_file(f: Row) -> bool:
        return f["samples"] > 0

    def files_ok(f: Row) -> bool:
        return f["samples"] > 20 and _median_power(f) > 0.45

    def octave_ok(s: Row) -> bool:
        return s["octave"] > 1 and s["power"] > 0

    cases = [
        (dict(filter="samples>20&medianPower>0.45", ffilter="octave>1&power>0",
              fsort="power=desc=0.75&clarity=desc", flim=5, lim=40),
         files_ok, octave_ok, [("power", True, 0.75), ("clarity", True, None)], 5, 40),
        (dict(fsort="clarity=asc=0.5&power=desc=10&dur=asc", lim=25),
         any_file, lambda s: True,
         [("clarity", False, 0.5), ("power", True, 10), ("dur", False, None)], None, 25),
        (dict(fsort="octave=desc&power=asc", flim=3),
         any_file, lambda s: True, [("octave", True, None), ("power", False, None)], 3, None),
        (dict(filter="", ffilter="note~=#|hz=0", fsort="hz=asc=0.9", flim=4, lim=30),
         lambda f: True, lambda s: "#" in s["note"] or s["hz"] == 0,
         [("hz", False, 0.9)], 4, 30),
    ]  # fmt: skip
    for spec_args, file_ok, sample_ok, stages, flim, lim in cases:
        expected = reference_subset(cat, file_ok, sample_ok, stages, flim, lim)
        with session_scope(catalog) as s:
            got = select_subset(s, cat.job_id, SubsetParams(name="x", **spec_args))
        assert got == expected, spec_args
        assert expected


def test_empty_fsort_still_honours_the_limits(catalog: Engine, cat: Catalog) -> None:
    """The reference never cut an unsorted subset; here: time order per file, files by id."""
    files = [f for f in cat.files if f["samples"] > 0]
    with session_scope(catalog) as s:
        got = select_subset(s, cat.job_id, SubsetParams(name="plain", flim=3, lim=20))
        default_flim = select_subset(s, cat.job_id, SubsetParams(name="plain", lim=50))
    expected = []
    for f in sorted(files, key=lambda f: f["id"]):
        rows = sorted((r for r in cat.samples if r["file_id"] == f["id"]),
                      key=lambda r: (r["start"], r["id"]))  # fmt: skip
        expected += [r["id"] for r in rows[:3]]
    assert got == expected[:20]
    flim = math.ceil(50 / len(files))
    assert len(default_flim) == 50
    per_file: dict[int, int] = {}
    by_id = {r["id"]: r for r in cat.samples}
    for sid in default_flim:
        per_file[by_id[sid]["file_id"]] = per_file.get(by_id[sid]["file_id"], 0) + 1
    assert max(per_file.values()) <= flim


def test_random_sort_and_shuffle_are_seeded(catalog: Engine, cat: Catalog) -> None:
    with session_scope(catalog) as s:
        a = select_subset(s, cat.job_id, SubsetParams(name="r", fsort="random=7", lim=30))
        b = select_subset(s, cat.job_id, SubsetParams(name="r", fsort="random=7", lim=30))
        c = select_subset(s, cat.job_id, SubsetParams(name="r", fsort="random=8", lim=30))
        plain = select_subset(s, cat.job_id, SubsetParams(name="p", fsort="power=desc", lim=30))
        shuf = select_subset(s, cat.job_id, SubsetParams(name="p", fsort="power=desc", lim=30,
                                                       shuffle=True, seed=3))  # fmt: skip
        shuf2 = select_subset(s, cat.job_id, SubsetParams(name="p", fsort="power=desc", lim=30,
                                                        shuffle=True, seed=3))  # fmt: skip
    assert a == b and a != c
    expected = reference_subset(
        cat, lambda f: f["samples"] > 0, lambda s: True, [], None, None
    )  # all samples of files with samples, in base order
    rows = [r for r in cat.samples if r["id"] in set(expected)]
    flim = math.ceil(30 / len({r["file_id"] for r in rows}))
    per_file: dict[int, list[Row]] = {}
    for r in sorted(rows, key=lambda r: random_key_py(r["id"], 7)):
        per_file.setdefault(r["file_id"], []).append(r)
    union = [r for lst in per_file.values() for r in lst[:flim]]
    assert a == [r["id"] for r in sorted(union, key=lambda r: random_key_py(r["id"], 7))][:30]
    assert shuf == shuf2 and sorted(shuf) == sorted(plain) and shuf != plain
    rng_order = list(plain)
    random.Random(3).shuffle(rng_order)
    assert shuf == rng_order


def _members(catalog: Engine, subset_id: int) -> list[tuple[int, int]]:
    with session_scope(catalog) as s:
        stmt = select(SubsetMember.position, SubsetMember.sample_id)
        stmt = stmt.where(SubsetMember.subset_id == subset_id).order_by(SubsetMember.position)
        return [tuple(r) for r in s.execute(stmt)]


def test_create_store_replace_and_load(catalog: Engine, cat: Catalog) -> None:
    spec = {"name": "loud", "ffilter": "power>0.3", "fsort": "power=desc", "flim": 4, "lim": 30}
    with session_scope(catalog) as s:
        first = create_subset(s, cat.job_id, spec)
        first_id = first.id
    with session_scope(catalog) as s:
        again = create_subset(s, cat.job_id, spec)  # same members: kept as they are
        assert again.id == first_id
        loaded = load_subset(s, cat.job_id, "loud")
    ids = loaded.sample_ids
    assert len(ids) == 30 == loaded.subset.members_count
    assert loaded.subset.members_digest == members_digest(ids)
    assert _members(catalog, first_id) == list(enumerate(ids))
    assert loaded.subset.spec["fsort"] == "power=desc"

    with session_scope(catalog) as s:
        replaced = create_subset(s, cat.job_id, {**spec, "fsort": "power=asc", "lim": 12})
        assert replaced.id == first_id
    with session_scope(catalog) as s:
        loaded = load_subset(s, cat.job_id, "loud")
        assert s.scalar(select(func.count()).select_from(Subset)) == 1
    assert len(loaded.sample_ids) == 12 and loaded.subset.members_count == 12
    assert loaded.subset.members_digest != members_digest(ids)
    assert _members(catalog, first_id) == list(enumerate(loaded.sample_ids))

    # A failing replacement rolls back: the stored subset is untouched.
    with pytest.raises(ConfigError, match="ffilter"), session_scope(catalog) as s:
        create_subset(s, cat.job_id, {**spec, "ffilter": "power>"})
    with session_scope(catalog) as s:
        assert load_subset(s, cat.job_id, "loud").sample_ids == loaded.sample_ids
        with pytest.raises(NotFoundError, match="no subset named"):
            load_subset(s, cat.job_id, "missing")
    with pytest.raises(ConfigError, match="unknown key"), session_scope(catalog) as s:
        create_subset(s, cat.job_id, {"name": "x", "limit": 3})


@pytest.mark.parametrize(
    "catalog_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_lateral_and_window_plans_agree(catalog: Engine, cat: Catalog) -> None:
    """PostgreSQL ranks per file in a LATERAL subquery; the window-partition plan must agree."""
    assert catalog.dialect.name == "postgresql"
    from db.subsets import subset_query

    specs = [
        SubsetParams(name="a", ffilter="octave>1&power>0", fsort="power=desc=0.75&clarity=desc",
                   flim=5, lim=40),
        SubsetParams(name="b", fsort="clarity=asc=0.5&power=desc=10&dur=asc", lim=25),
        SubsetParams(name="c", flim=3, lim=20),
        SubsetParams(name="d", ffilter="item.year>1950|file.medianPower<0.5", fsort="random=3",
                     lim=30),
    ]  # fmt: skip
    with session_scope(catalog) as s:
        for spec in specs:
            lateral = list(s.scalars(subset_query(s, cat.job_id, spec, lateral=True)))
            window = list(s.scalars(subset_query(s, cat.job_id, spec, lateral=False)))
            assert lateral == window and lateral, spec.name
