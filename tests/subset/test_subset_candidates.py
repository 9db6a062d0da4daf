"""Stored per-file subset candidates (migration 0009): the job-level subset read from them is
the subset read from samples, on both backends; they follow their file's samples exactly once."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, update

from core.errors import QueryError
from db.bulk import delete_file_samples, replace_samples
from db.engine import session_scope
from db.models import File, Sample, SubsetCandidate
from db.state import delete_job
from db.subsets import (
    SubsetParams,
    candidate_key,
    candidates_cover,
    create_subset,
    fill_candidates,
    job_subset_specs,
    select_subset,
)
from tests.catalog_factory import Catalog, build_catalog, sample_columns

REFERENCE = dict(filter="samples>40&medianPower>0.45", ffilter="octave>1&power>0",
                 fsort="power=desc=0.75&clarity=desc")  # fmt: skip
STORABLE = [
    SubsetParams(name="ref", flim=5, lim=60, **REFERENCE),
    SubsetParams(name="ref-small-lim", flim=20, lim=7, **REFERENCE),  # trims keep >= flim
    SubsetParams(name="ties", filter="samples>0", fsort="octave=asc&power=desc", flim=4, lim=50),
    SubsetParams(name="rand", fsort="random=7=0.5&dur=asc", flim=6, lim=40, shuffle=True, seed=3),
    SubsetParams(name="nolim", ffilter="hz>0", fsort="clarity=asc=0.5&power=desc=10&dur=asc",
                 flim=3, lim=None),
    SubsetParams(name="everything", fsort="midi=desc", flim=None, lim=None),
    SubsetParams(name="plain", flim=2, lim=30),  # no sort: base order
]


@pytest.fixture
def cat(catalog: Engine) -> Catalog:
    return build_catalog(catalog, seed=11, items=14, files_per_item=(1, 3),
                         samples_per_file=(0, 90), vectors=False)  # fmt: skip


def _file_ids(engine: Engine, job_id: int) -> list[int]:
    with session_scope(engine) as s:
        return list(s.scalars(select(File.id).where(File.job_id == job_id).order_by(File.id)))


def _rows(engine: Engine, file_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(SubsetCandidate)
    if file_id is not None:
        stmt = stmt.where(SubsetCandidate.file_id == file_id)
    with session_scope(engine) as s:
        return int(s.scalar(stmt) or 0)


def _both(engine: Engine, job_id: int, spec: SubsetParams) -> tuple[list[int], list[int]]:
    with session_scope(engine) as s:
        stored = select_subset(s, job_id, spec, candidates=True)
    with session_scope(engine) as s:
        fresh = select_subset(s, job_id, spec, candidates=False)
    return stored, fresh


def test_stored_candidates_give_the_same_members(catalog: Engine, cat: Catalog) -> None:
    fids = _file_ids(catalog, cat.job_id)
    with session_scope(catalog) as s:
        assert not candidates_cover(s, cat.job_id, STORABLE[0])  # nothing stored yet
        written = fill_candidates(s, fids, STORABLE)
    assert written == _rows(catalog) > 0
    for spec in STORABLE:
        assert candidate_key(spec) is not None, spec.name
        with session_scope(catalog) as s:
            assert candidates_cover(s, cat.job_id, spec), spec.name
        stored, fresh = _both(catalog, cat.job_id, spec)
        assert stored == fresh, spec.name
        assert len(fresh) > 0, spec.name
        with session_scope(catalog) as s:
            assert select_subset(s, cat.job_id, spec) == fresh  # the default takes them
    # the reference spec really trims and limits: fewer than its passing files' samples
    with session_scope(catalog) as s:
        n_ref = len(select_subset(s, cat.job_id, STORABLE[0]))
        passing = s.scalar(select(func.count()).select_from(File).where(
            File.job_id == cat.job_id, File.samples > 40, File.median_power > 0.45))
    assert 2 <= passing < len(fids)
    assert 0 < n_ref <= min(60, 5 * passing)


def test_markers_only_for_passing_files_and_empty_files_count(catalog: Engine,
                                                              cat: Catalog) -> None:
    spec = STORABLE[0]
    key = candidate_key(spec)
    fids = _file_ids(catalog, cat.job_id)
    with session_scope(catalog) as s:
        fill_candidates(s, fids, [spec])
        marked = set(s.scalars(select(SubsetCandidate.file_id).where(
            SubsetCandidate.spec_key == key, SubsetCandidate.sample_id == 0)))
        passing = set(s.scalars(select(File.id).where(
            File.job_id == cat.job_id, File.samples > 40, File.median_power > 0.45)))
    assert marked == passing
    # A file that starts to pass after its samples were written has no candidates: the subset
    # falls back to samples, with the same members as before the change of its statistics.
    outsider = next(f for f in fids if f not in passing)
    with session_scope(catalog) as s:
        s.execute(update(File).where(File.id == outsider).values(samples=1000, median_power=0.9))
    with session_scope(catalog) as s:
        assert not candidates_cover(s, cat.job_id, spec)
        auto = select_subset(s, cat.job_id, spec)
        with pytest.raises(QueryError):
            select_subset(s, cat.job_id, spec, candidates=True)
    with session_scope(catalog) as s:
        assert auto == select_subset(s, cat.job_id, spec, candidates=False)
    # its set filled (as a re-analysis would) and it counts again, marker and all
    with session_scope(catalog) as s:
        fill_candidates(s, [outsider], [spec])
        assert candidates_cover(s, cat.job_id, spec)
    assert _both(catalog, cat.job_id, spec)[0] == auto


def test_reanalysis_replaces_candidates_exactly_once(catalog: Engine, cat: Catalog) -> None:
    spec = STORABLE[0]
    fids = _file_ids(catalog, cat.job_id)
    with session_scope(catalog) as s:
        fill_candidates(s, fids, STORABLE)
    target = next(f["id"] for f in cat.files
                  if f["samples"] > 40 and (f["median_power"] or 0) > 0.45)  # fmt: skip
    before = _rows(catalog, target)
    assert before > 1
    rng = np.random.default_rng(5)
    cols = sample_columns(rng, 70)
    cols["power"] = cols["power"] * 0 + 0.99  # every new sample louder than the old ones
    for _ in range(2):  # twice: the second replaces the first's rows, no duplicates
        with session_scope(catalog) as s:
            s.execute(update(File).where(File.id == target).values(samples=70, median_power=0.99))
            replace_samples(s, job_id=cat.job_id, file_id=target, columns=cols, vectors=None,
                            subset_specs=job_subset_specs({"subset": [
                                sp.model_dump() for sp in STORABLE]}))  # fmt: skip
        with session_scope(catalog) as s:
            new_ids = set(s.scalars(select(Sample.id).where(Sample.file_id == target)))
            stored = set(s.scalars(select(SubsetCandidate.sample_id).where(
                SubsetCandidate.file_id == target, SubsetCandidate.sample_id != 0)))
            markers = s.scalar(select(func.count()).select_from(SubsetCandidate).where(
                SubsetCandidate.file_id == target, SubsetCandidate.sample_id == 0))
        assert stored and stored <= new_ids  # only the new samples' ids
        assert markers == len({candidate_key(sp) for sp in STORABLE})  # one per spec key
        for sp in STORABLE:
            got, fresh = _both(catalog, cat.job_id, sp)
            assert got == fresh, sp.name
    with session_scope(catalog) as s:
        ids = select_subset(s, cat.job_id, spec)
    assert new_ids & set(ids)  # the loud new samples are chosen
    # replaced without specs (another writer): its candidates leave with its old samples
    with session_scope(catalog) as s:
        replace_samples(s, job_id=cat.job_id, file_id=target, columns=cols, vectors=None)
    assert _rows(catalog, target) == 0
    with session_scope(catalog) as s:
        assert not candidates_cover(s, cat.job_id, spec)
        assert select_subset(s, cat.job_id, spec) == select_subset(s, cat.job_id, spec,
                                                                    candidates=False)


def test_delete_file_samples_and_job_take_candidates(catalog: Engine, cat: Catalog) -> None:
    fids = _file_ids(catalog, cat.job_id)
    with session_scope(catalog) as s:
        fill_candidates(s, fids, STORABLE)
    some = [f for f in fids if _rows(catalog, f)][:2]
    assert some
    with session_scope(catalog) as s:
        delete_file_samples(s, some)
    assert all(_rows(catalog, f) == 0 for f in some)
    assert _rows(catalog) > 0
    with session_scope(catalog) as s:
        assert delete_job(s, cat.job_id)
    assert _rows(catalog) == 0


def test_specs_that_cannot_be_stored_fall_back(catalog: Engine, cat: Catalog) -> None:
    adhoc = [
        SubsetParams(name="default-flim", lim=40, **REFERENCE),  # flim from passing files
        SubsetParams(name="file-col", ffilter="file.medianPower<0.5", flim=3, lim=30),
        SubsetParams(name="text-key", fsort="note=asc", flim=3, lim=30),
        SubsetParams(name="five", fsort="power=desc=0.9&clarity=desc&dur=asc&hz=asc&midi=desc",
                     flim=3, lim=30),
    ]
    fids = _file_ids(catalog, cat.job_id)
    with session_scope(catalog) as s:
        assert fill_candidates(s, fids, adhoc) == 0
    assert _rows(catalog) == 0
    for spec in adhoc:
        assert candidate_key(spec) is None, spec.name
        with session_scope(catalog) as s:
            assert not candidates_cover(s, cat.job_id, spec)
            got = select_subset(s, cat.job_id, spec)
            assert got and got == select_subset(s, cat.job_id, spec, candidates=False)


def test_key_is_the_per_file_part_only() -> None:
    a = SubsetParams(name="a", filter="samples>1", lim=10, flim=2, fsort="power=desc")
    b = SubsetParams(name="b", filter="samples>9", lim=99, flim=2, fsort="power=desc",
                     shuffle=True)  # fmt: skip
    c = SubsetParams(name="a", filter="samples>1", lim=10, flim=3, fsort="power=desc")
    assert candidate_key(a) == candidate_key(b) != candidate_key(c)
    assert 0 <= (candidate_key(a) or -1) < 2**63


def test_create_subset_from_candidates_stores_the_same_members(catalog: Engine,
                                                               cat: Catalog) -> None:
    spec = STORABLE[0]
    with session_scope(catalog) as s:
        fresh = create_subset(s, cat.job_id, spec)
        fresh_digest = fresh.members_digest
    with session_scope(catalog) as s:
        fill_candidates(s, _file_ids(catalog, cat.job_id), [spec])
    with session_scope(catalog) as s:
        again = create_subset(s, cat.job_id, spec)
        assert again.members_digest == fresh_digest and again.members_count > 0
