"""Fit the onset decision (worker/analysis/onsets.py: logistic regression and network).

Usage: python bench/tune_onsets.py [--cache DIR] [--l2 1.0] [--hidden 8] [--alpha 1.0] [--cv]

Renders (cached) the tuning split of the real-timbre set (tests/analysis/realtimbre.py: the 12
instruments of issue 11, seeds 0-3, dry/room/hall/noise floor, and seed 4 at 10 dB SNR, as
bench/analysis_accuracy.py's tune split has them), computes the novelty and the candidates
exactly as analysis does, labels the candidate nearest each note onset (within 50 ms) as an
onset and the rest not, and fits the two halves of the decision: a logistic regression (Newton's
method, L2 `l2` on standardised features) and a network of one hidden layer of tanh units on the
standardised features (scikit-learn's MLPClassifier, L-BFGS, L2 penalty `alpha`, fixed seed: the
same arrays every run). It prints the arrays to paste into onsets.py, then scores the fitted
decision with analyze_file on the tuning split and on the held-out split (never fitted on). It
also fits the timing correction (TIMING_WEIGHTS, TIMING_BIAS): least squares of the lateness
(ms, clipped to +-30) of each labelled candidate's sub-frame centre on its features. --cv
instead scores P_ACCEPT values by 5-fold cross-validation over the tuning seeds (fit on four,
score the fifth), which is how onsets.P_ACCEPT is chosen.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis import realtimbre as R  # noqa: E402
from tests.analysis.onset_scoring import Score, score  # noqa: E402
from worker.analysis import AnalysisParams, analyze_file, iter_audio_blocks  # noqa: E402
from worker.analysis import onsets as O  # noqa: E402
from worker.analysis.frames import FrameChunk, FrameStream  # noqa: E402
from worker.analysis.novelty import ONSET_HOP  # noqa: E402

SR = AnalysisParams().sr


def novelty_of(path: Path) -> FrameChunk:
    """All frames of a file, computed as analysis computes them."""
    stream = FrameStream(SR, with_onsets=True)
    parts = [stream.push(b) for b in iter_audio_blocks(path, sr=SR, block_seconds=10.0)]
    parts.append(stream.finish())
    return FrameChunk.concat([p for p in parts if p is not None and len(p)])


def candidates(frames: FrameChunk) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sub-frames (after the WAIT rule) and their features, as OnsetTracker has."""
    grid = O.Grid(SR)
    flux = frames.flux.reshape(-1)
    idx = O.find_candidates(flux, 0, flux.size, grid)
    keep, last = [], -(10**9)
    for c in idx.tolist():
        if c - last > grid.wait:
            keep.append(c)
            last = c
    idx = np.asarray(keep, np.int64)
    return idx, O.candidate_features(flux, frames.conc.reshape(-1), frames.level.reshape(-1), idx,
                                     grid, start=True)


def fit_linear(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method on standardised features; raw-space weights."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = l2 * np.diag(np.r_[np.ones(z.shape[1] - 1), 0.0])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ w))
        step = np.linalg.solve((z * (p * (1 - p))[:, None]).T @ z + reg, z.T @ (p - y) + reg @ w)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    raw = w[:-1] / sd
    return raw, float(w[-1] - np.sum(w[:-1] * mu / sd))


def fit(x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> None:
    """Fit both halves of the decision on features x, labels y; set onsets.py's arrays."""
    from sklearn.neural_network import MLPClassifier

    O.WEIGHTS, O.BIAS = fit_linear(x, y, args.l2)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    net = MLPClassifier((args.hidden,), activation="tanh", solver="lbfgs", alpha=args.alpha,
                        max_iter=2000, random_state=0).fit((x - mu) / sd, y)
    O.FEATURE_MEAN, O.FEATURE_SCALE = mu, sd
    O.HIDDEN_WEIGHTS, O.HIDDEN_BIAS = net.coefs_[0].T.copy(), net.intercepts_[0].copy()
    O.OUT_WEIGHTS, O.OUT_BIAS = net.coefs_[1][:, 0].copy(), float(net.intercepts_[1][0])


def _arr(a: np.ndarray, digits: int = 4) -> str:
    """A 1-D or 2-D numpy array as Python source that fits in 100 columns."""
    a = np.asarray(a, float)

    def row(v: np.ndarray, indent: int) -> str:
        parts, line = [], ""
        for x in v:
            item = f"{x:.{digits}f}, "
            if line and indent + len(line) + len(item) > 96:
                parts.append(line.rstrip())
                line = ""
            line += item
        parts.append(line.rstrip().rstrip(","))
        return ("\n" + " " * indent).join(parts)

    if a.ndim == 1:
        return "np.array([" + row(a, 14) + "])"
    return "np.array([\n" + "".join(f"    [{row(r, 5)}],\n" for r in a) + "])"


def evaluate(items: list[R.Item]) -> Score:
    """Score analyze_file's onsets (with the module's current decision) over items."""
    total = Score()
    for it in items:
        table = analyze_file(it.path, AnalysisParams())
        total += score(it.truth.onsets, it.truth.pitches, table.start / 1000.0, None)
    return total


def cross_validate(tune: list[R.Item], xs: list, ys: list, args: argparse.Namespace) -> None:
    """Print the onset F of each P_ACCEPT over one fold per tuning seed (fit on the other
    seeds, score this one's files with analyze_file)."""
    values = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
    totals = {p: Score() for p in values}
    seeds = sorted({it.seed for it in tune})
    for s in seeds:
        train = [k for k, it in enumerate(tune) if it.seed != s]
        fit(np.vstack([xs[k] for k in train]), np.concatenate([ys[k] for k in train]), args)
        for p in values:
            O.P_ACCEPT = p
            totals[p] += evaluate([it for it in tune if it.seed == s])
    print("P_ACCEPT cross-validated F: "
          + "  ".join(f"{p}: {t.f:.4f}" for p, t in totals.items()))


def main() -> None:
    """Fit, print, and score."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=R.DEFAULT_CACHE)
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the linear half")
    ap.add_argument("--hidden", type=int, default=8, help="hidden units")
    ap.add_argument("--alpha", type=float, default=1.0, help="L2 penalty")
    ap.add_argument("--cv", action="store_true", help="cross-validate P_ACCEPT instead")
    args = ap.parse_args()
    if (why := R.missing_tools()) is not None:
        sys.exit(why)
    tune = (R.build_items(R.TUNE_INSTRUMENTS, (0, 1, 2, 3), cache=args.cache)
            + R.build_items(R.TUNE_INSTRUMENTS, (4,), variants=("snr10",), cache=args.cache))
    xs, ys, late = [], [], []
    for it in tune:
        idx, feats = candidates(novelty_of(it.path))
        t = idx * ONSET_HOP / SR
        label = np.zeros(idx.size)
        lateness = np.zeros(idx.size)
        for onset in it.truth.onsets:
            if t.size and np.min(np.abs(t - onset)) <= 0.05:
                k = int(np.argmin(np.abs(t - onset)))
                label[k], lateness[k] = 1.0, 1000.0 * (t[k] - onset)
        late.append(lateness)
        xs.append(feats)
        ys.append(label)
    x, y = np.vstack(xs), np.concatenate(ys)
    found = int(y.sum())
    notes = sum(it.truth.onsets.size for it in tune)
    print(f"{len(tune)} files, {notes} notes, {len(y)} candidates, {found} near a note "
          f"({found / notes:.1%} of notes have a candidate)")
    if args.cv:
        cross_validate(tune, xs, ys, args)
        return
    fit(x, y, args)
    print(f"FEATURES = {O.FEATURES}")
    print(f"WEIGHTS = {_arr(O.WEIGHTS)}")
    print(f"BIAS = {O.BIAS:.4f}")
    print(f"FEATURE_MEAN = {_arr(O.FEATURE_MEAN)}")
    print(f"FEATURE_SCALE = {_arr(O.FEATURE_SCALE)}")
    print(f"HIDDEN_WEIGHTS = {_arr(O.HIDDEN_WEIGHTS)}")
    print(f"HIDDEN_BIAS = {_arr(O.HIDDEN_BIAS)}")
    print(f"OUT_WEIGHTS = {_arr(O.OUT_WEIGHTS)}")
    print(f"OUT_BIAS = {O.OUT_BIAS:.4f}")
    pos = y > 0
    a = np.hstack([x[pos], np.ones((int(pos.sum()), 1))])
    tw = np.linalg.lstsq(a, np.clip(np.concatenate(late)[pos], -30.0, 30.0), rcond=None)[0]
    print(f"TIMING_WEIGHTS = np.array([{', '.join(f'{v:.2f}' for v in tw[:-1])}])")
    print(f"TIMING_BIAS = {tw[-1]:.2f}")
    O.TIMING_WEIGHTS, O.TIMING_BIAS = tw[:-1], float(tw[-1])
    held = (R.build_items(R.TUNE_INSTRUMENTS, (100, 101, 102, 103), cache=args.cache)
            + R.build_items(R.HELDOUT_INSTRUMENTS, (100, 101, 102, 103), cache=args.cache))
    for name, items in (("tune", tune), ("held-out", held)):
        s = evaluate(items)
        print(f"{name:9s} F {s.f:.3f}  P {s.precision:.3f}  R {s.recall:.3f}  "
              f"median {s.median_ms:+.1f} ms  ({s.n_ref} notes)")


if __name__ == "__main__":
    main()
