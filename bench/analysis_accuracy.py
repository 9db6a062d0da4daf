"""Onset and pitch accuracy on real timbres: samplemill beside the reference method and librosa.

Usage: python bench/analysis_accuracy.py [--split tune|heldout|all] [--seconds 12]
                                         [--cache DIR] [--methods samplemill,reference,librosa]

Renders (once, cached) General MIDI phrases through FluidSynth (tests/analysis/realtimbre.py),
with reverb, noise floors and AAC/MP3/Opus encodes, and scores each method with mir_eval's onset
F-measure at +-50 ms and pitch within +-50 cents of each matched note. Splits: `tune` is the
12 instruments of issue 11 at seeds 0-3 (what parameters were tuned on); `heldout` is the same
instruments at seeds 100-103 plus 11 instruments never tuned on, at seeds 100-103. Four seeds
give every instrument each variant (dry, a room, a hall, a -55 dB noise floor) once. Noise at
10 dB SNR is scored on its own (seed 4 / 104 of every instrument).

Methods, all fed the same decoded audio (PyAV, 22.05 kHz mono):
  samplemill  analyze_file with default AnalysisParams (the product)
  reference   the reference workflow: SuperFlux on a 138-band log-mel, librosa onset_detect
              with backtracking (delta 0.07), pitch by piptrack on each sample's HPSS harmonic
  librosa     plain librosa.onset.onset_detect(y, sr) defaults (onsets only)
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis import realtimbre as R  # noqa: E402
from tests.analysis.onset_scoring import Score, score  # noqa: E402
from worker.analysis import AnalysisParams, analyze_file, iter_audio_blocks  # noqa: E402

PARAMS = AnalysisParams()
SPLITS = {  # (instruments, seeds, variants)
    "tune": [(R.TUNE_INSTRUMENTS, (0, 1, 2, 3), R.VARIANTS),
             (R.TUNE_INSTRUMENTS, (4,), ("snr10",))],
    "heldout": [(R.TUNE_INSTRUMENTS, (100, 101, 102, 103), R.VARIANTS),
                (R.HELDOUT_INSTRUMENTS, (100, 101, 102, 103), R.VARIANTS),
                (R.TUNE_INSTRUMENTS + R.HELDOUT_INSTRUMENTS, (104,), ("snr10",))],
}
SPLITS["all"] = SPLITS["tune"] + SPLITS["heldout"]


def reference_method(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference workflow's onsets (s) and per-sample piptrack pitch (Hz, 0 if none)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=138,
                                         fmin=27.5, fmax=16000)
    env = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=np.max), sr=sr,
                                       lag=2, max_size=3)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=sr, backtrack=True,
                                        delta=PARAMS.delta, units="samples")
    starts, hz = [], []
    for s, e in itertools.pairwise([*onsets.tolist(), y.size]):
        e = min(e, s + int(PARAMS.max_ms * sr / 1000))
        if (e - s) * 1000 / sr < PARAMS.min_ms:
            continue
        harmonic, _ = librosa.effects.hpss(y[s:e], margin=4)
        pitches, mags = librosa.piptrack(y=harmonic, sr=sr)
        frame = int(np.argmax(mags.max(axis=0)))
        starts.append(s / sr)
        hz.append(float(pitches[np.argmax(mags[:, frame]), frame]))
    return np.asarray(starts), np.asarray(hz)


def librosa_plain(y: np.ndarray, sr: int) -> tuple[np.ndarray, None]:
    """librosa.onset.onset_detect with its defaults (no backtracking); no pitch."""
    import librosa

    return librosa.onset.onset_detect(y=y, sr=sr, units="time"), None


def samplemill(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The product: analyze_file with default parameters."""
    table = analyze_file(path, PARAMS)
    return table.start / 1000.0, table.hz


def _row(name: str, s: Score) -> str:
    """One table row."""
    pitch = f"{s.pitch:6.3f}" if s.pitch_n else "     -"
    return (f"{name:16s} {s.f:6.3f} {s.precision:6.3f} {s.recall:6.3f} {s.median_ms:+7.1f} "
            f"{s.p90_ms:6.1f} {pitch} {s.n_ref:5d}")


def main() -> None:
    """Score every method on every item of the chosen split and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=sorted(SPLITS), default="all")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--cache", type=Path, default=R.DEFAULT_CACHE)
    ap.add_argument("--methods", default="samplemill,reference,librosa")
    ap.add_argument("--instruments", default="", help="comma-separated subset")
    args = ap.parse_args()
    if (why := R.missing_tools()) is not None:
        sys.exit(why)
    methods = args.methods.split(",")
    warnings.filterwarnings("ignore", message="Empty filters")
    only = set(filter(None, args.instruments.split(",")))
    cpu = dict.fromkeys(methods, 0.0)
    audio_s = 0.0
    for group, seeds, variants in SPLITS[args.split]:
        group = tuple(i for i in group if not only or i in only)
        if not group:
            continue
        t0 = time.perf_counter()
        items = R.build_items(group, seeds, seconds=args.seconds, variants=variants,
                              cache=args.cache)
        print(f"\n{len(items)} files ({', '.join(group[:3])}, ... seeds {seeds}, "
              f"{'/'.join(variants)}), "
              f"rendered/checked in {time.perf_counter() - t0:.1f} s")
        per: dict[str, dict[str, Score]] = {m: {} for m in methods}
        by_var: dict[str, dict[str, Score]] = {m: {} for m in methods}
        by_codec: dict[str, dict[str, Score]] = {m: {} for m in methods}
        low, noisy = Score(), Score()
        for it in items:
            y = np.concatenate(list(iter_audio_blocks(it.path, sr=PARAMS.sr)))
            audio_s += y.size / PARAMS.sr
            for m in methods:
                c = time.process_time()
                if m == "samplemill":
                    est, hz = samplemill(it.path)
                elif m == "reference":
                    est, hz = reference_method(y, PARAMS.sr)
                else:
                    est, hz = librosa_plain(y, PARAMS.sr)
                cpu[m] += time.process_time() - c
                s = score(it.truth.onsets, it.truth.pitches, est, hz)
                for table, key in ((per, it.instrument), (by_var, it.variant),
                                   (by_codec, it.codec)):
                    table[m].setdefault(key, Score())
                    table[m][key] += s
                if m == "samplemill":
                    for i, _, ok in s.matched:
                        if min(it.truth.pitches[i]) < 30:  # F#1 = 46.2 Hz; F1 = 43.7 Hz
                            low.pitch_n += 1
                            low.pitch_ok += ok
                        if it.variant == "snr10":
                            noisy.pitch_n += 1
                            noisy.pitch_ok += ok
        head = (f"{'':16s} {'F':>6s} {'P':>6s} {'R':>6s} {'med ms':>7s} {'p90|e|':>6s} "
                f"{'pitch':>6s} {'notes':>5s}")
        for m in methods:
            print(f"\n[{m}]\n{head}")
            total = Score()
            for name in group:
                print(_row(name, per[m][name]))
                total += per[m][name]
            print(_row("ALL", total))
            worst = min(per[m].values(), key=lambda s: s.f)
            print(f"{'':16s} worst instrument F {worst.f:.3f}; "
                  + "  ".join(f"{k} {v.f:.3f}/{v.median_ms:+.1f}ms"
                              for k, v in sorted(by_var[m].items()))
                  + "\n" + " " * 17 + "by codec: "
                  + "  ".join(f"{k} {v.f:.3f}/{v.median_ms:+.1f}ms"
                              for k, v in sorted(by_codec[m].items())))
        if "samplemill" in methods:
            print(f"\nsamplemill pitch on notes below 45 Hz: {low.pitch_ok}/{low.pitch_n}"
                  f"; at 10 dB SNR: {noisy.pitch_ok}/{noisy.pitch_n}")
    print("\nCPU per method: " + ", ".join(
        f"{m} {audio_s / max(cpu[m], 1e-9):.0f}x realtime" for m in methods))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
