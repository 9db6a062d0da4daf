"""Duplicates across files: shared stretches planted in films of different sizes and
qualities, found with both files, times and length exact to a frame."""

from __future__ import annotations

from tests.frames.filmgen import shared
from tests.frames.scoring import score
from worker.frames.align import Seq
from worker.frames.duplicates import DuplicateParams, SearchStats, find_duplicates


def _seqs(items):
    out = []
    for item in items:
        f = item.fp.frames
        out.append(Seq.from_arrays(f.phash, f.dhash, f.stats, f.thumb_gray, f.t,
                                   item.fp.info.fps, min_contrast=DuplicateParams().min_contrast))
    return out


def test_planted_duplicates_precision_recall_and_boundaries(duplicate_films):
    seqs = _seqs(duplicate_films)
    stats = SearchStats()
    dups = find_duplicates(list(range(len(seqs))), seqs.__getitem__, stats=stats)
    found = [(d.a, d.b, d.a_first, d.b_first, d.frames) for d in dups]
    truth = [(s.a, s.b, s.a_first, s.b_first, s.length)
             for s in shared([i.film for i in duplicate_films])]
    s = score(found, truth, keys=2, tol=1)
    print(f"duplicates: {len(truth)} planted, {len(found)} found, precision {s.precision:.3f}, "
          f"recall {s.recall:.3f}, worst boundary error {s.worst_boundary} frame(s); {stats}")
    assert len(truth) == 10
    assert s.precision >= 0.95 and s.recall >= 0.95, (s.false, s.missed)
    assert s.worst_boundary <= 1
    assert stats.files == 4 and stats.indexed < stats.queries
    for d in dups:  # times agree with frame numbers at 25 fps
        assert abs(d.a_start - d.a_first / 25) < 1e-6 and abs(d.length - d.frames / 25) < 1e-6


def test_keys_are_reported_and_each_pair_once(duplicate_films):
    seqs = _seqs(duplicate_films)
    names = ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    dups = find_duplicates(names, dict(zip(names, seqs, strict=True)).__getitem__, cache=1)
    pairs = {(d.a, d.b) for d in dups}
    assert all(names.index(a) < names.index(b) for a, b in pairs)
    assert len({(d.a, d.b, d.a_first, d.b_first) for d in dups}) == len(dups)


def test_a_single_file_has_no_duplicates(duplicate_films):
    seqs = _seqs(duplicate_films[:1])
    assert find_duplicates([0], seqs.__getitem__) == []
    assert find_duplicates([], seqs.__getitem__) == []
