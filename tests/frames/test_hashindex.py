"""Multi-index hashing finds every pair a brute-force scan finds within its guarantee."""

from __future__ import annotations

import numpy as np
import pytest

from worker.frames.hashindex import HashIndex, as_codes, chunk_values, hamming


def _near(rng, base: np.ndarray, bits: int) -> np.ndarray:
    """Copies of `base` codes with `bits` random bits flipped in each."""
    out = base.copy()
    for r in range(len(out)):
        for _ in range(bits):
            w = rng.integers(0, out.shape[1])
            out[r, w] ^= np.uint64(1) << np.uint64(rng.integers(0, 64))
    return out


@pytest.mark.parametrize("chunk_bits,radius", [(16, 7), (32, 3)])
def test_finds_all_pairs_within_the_pigeonhole_radius(chunk_bits, radius):
    rng = np.random.default_rng(chunk_bits)
    base = rng.integers(0, 2**63, size=(400, 2), dtype=np.int64).astype(np.uint64)
    queries = np.concatenate([_near(rng, base[:200], radius), _near(rng, base[200:], 30)])
    index = HashIndex(base, chunk_bits=chunk_bits)
    qi, ei, d = index.search(queries, radius)
    found = set(zip(qi.tolist(), ei.tolist(), strict=True))
    full = hamming(queries[:, None, :], base[None, :, :])
    truth = set(zip(*np.nonzero(full <= radius), strict=True))
    assert truth == found
    assert len(truth) >= 200  # every lightly altered query has its original
    np.testing.assert_array_equal(d, full[qi, ei])


def test_large_buckets_are_skipped_and_chunks_are_bytes_of_the_code():
    codes = as_codes(np.zeros(50, np.uint64), np.arange(50, dtype=np.uint64))
    vals = chunk_values(codes, 16)
    assert vals.shape == (50, 8)
    assert (vals[:, :4] == 0).all() and vals[7, 4] == 7
    few = HashIndex(codes, chunk_bits=16, max_bucket=10)
    _, ei, _ = few.search(codes[:1], 0)
    # the all-zero pHash chunks are shared by 50 entries: only the dHash chunks may match
    assert ei.tolist() == [0]
    many = HashIndex(codes, chunk_bits=16, max_bucket=100)
    _, ei, _ = many.search(codes[:1], 64)
    assert sorted(ei.tolist()) == list(range(50))


def test_memory_is_the_tables():
    codes = np.arange(1000, dtype=np.uint64)
    index = HashIndex(codes, chunk_bits=16)
    assert index.nbytes == codes.nbytes + 4 * (1000 * 2 + 1000 * 4)
