"""Real-timbre evaluation set: MIDI phrases written here, rendered through FluidSynth with a
General MIDI soundfont, then reverberated, noised and encoded, with the notes as ground truth.

Nothing large is committed: `build_items` renders on demand into a cache directory (keyed by a
digest of everything that shapes the audio) and reuses what is there. Phrases mix repeated
notes, legato (FluidSynth's CC 68 legato: the pitch changes, no new attack), soft and hard
attacks, expression swells, pitch-bend vibrato, chords, rests and notes below 45 Hz.
Needs the Debian packages `fluidsynth` and `fluid-soundfont-gm` (see `missing_tools`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.signal import fftconvolve, lfilter, resample_poly

from tests.mediagen import write_media

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "samplemill-realtimbre"
SR = 44100
_VERSION = 1  # bump when composition or rendering changes, so caches are not reused


@dataclass(frozen=True)
class Instrument:
    """A General MIDI program with a playable range and how it may be played."""

    name: str
    program: int  # GM program, 0-based
    low: int  # lowest MIDI note
    high: int  # highest MIDI note
    sustained: bool  # bowed/blown: legato, swells, vibrato; else struck/plucked
    chords: bool  # polyphonic


INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in (
    # The twelve of issue 11.
    Instrument("piano", 0, 21, 91, False, True),
    Instrument("vibraphone", 11, 53, 89, False, True),
    Instrument("marimba", 12, 45, 91, False, True),
    Instrument("nylon_guitar", 24, 40, 81, False, True),
    Instrument("finger_bass", 33, 24, 55, False, False),
    Instrument("violin", 40, 55, 91, True, False),
    Instrument("cello", 42, 36, 72, True, False),
    Instrument("pizzicato", 45, 36, 84, False, True),
    Instrument("trumpet", 56, 54, 82, True, False),
    Instrument("alto_sax", 65, 49, 80, True, False),
    Instrument("clarinet", 71, 50, 89, True, False),
    Instrument("flute", 73, 60, 91, True, False),
    # Held out: never used for tuning.
    Instrument("electric_piano", 4, 36, 84, False, True),
    Instrument("harp", 46, 24, 91, False, True),
    Instrument("acoustic_bass", 32, 24, 55, False, False),
    Instrument("viola", 41, 48, 84, True, False),
    Instrument("contrabass", 43, 28, 55, True, False),
    Instrument("strings", 48, 36, 84, True, True),
    Instrument("french_horn", 60, 41, 77, True, False),
    Instrument("trombone", 57, 40, 72, True, False),
    Instrument("tuba", 58, 28, 58, True, False),
    Instrument("oboe", 68, 58, 88, True, False),
    Instrument("bassoon", 70, 34, 70, True, False),
)}
TUNE_INSTRUMENTS = tuple(list(INSTRUMENTS)[:12])
HELDOUT_INSTRUMENTS = tuple(list(INSTRUMENTS)[12:])


@dataclass(frozen=True)
class Note:
    """One note: start and duration (ms), MIDI pitch, velocity, and how it was played."""

    start: int
    dur: int
    pitch: int
    vel: int
    tags: tuple[str, ...] = ()  # repeat, legato, soft, hard, swell, vibrato, chord


@dataclass
class Phrase:
    """A monophonic-channel phrase: notes plus controller events (ms, status bytes)."""

    instrument: Instrument
    seconds: float
    notes: list[Note] = field(default_factory=list)
    controls: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Truth:
    """Ground truth of one rendered phrase: onsets (s) and the MIDI pitches sounding at each."""

    onsets: np.ndarray
    pitches: list[tuple[int, ...]]
    tags: list[tuple[str, ...]]

    def to_json(self) -> dict:
        """Return a JSON-able form."""
        return {"onsets": self.onsets.tolist(), "pitches": [list(p) for p in self.pitches],
                "tags": [list(t) for t in self.tags]}

    @classmethod
    def from_json(cls, d: dict) -> Truth:
        """Inverse of to_json."""
        return cls(np.asarray(d["onsets"], float), [tuple(p) for p in d["pitches"]],
                   [tuple(t) for t in d["tags"]])


@dataclass(frozen=True)
class Item:
    """One evaluation file with its truth and how it was made."""

    path: Path
    truth: Truth
    instrument: str
    seed: int
    variant: str  # dry, room, hall, noise, snr10
    codec: str  # wav, m4a, mp3, opus


def missing_tools() -> str | None:
    """Return what is missing to render (a sentence naming the Debian package), or None."""
    if shutil.which("fluidsynth") is None:
        return "FluidSynth not found: apt-get install fluidsynth"
    if soundfont() is None:
        return "no General MIDI soundfont: apt-get install fluid-soundfont-gm"
    return None


def soundfont() -> str | None:
    """Return the path of an installed General MIDI soundfont, or None."""
    return next((p for p in SOUNDFONTS if Path(p).is_file()), None)


# ---------------------------------------------------------------------------------------------
# Composition


def _walk(rng: np.random.Generator, pitch: int, inst: Instrument) -> int:
    """Step a melody: mostly small intervals (semitones included), sometimes a leap."""
    step = int(rng.choice([-2, -1, 1, 2, 3, -3, 4, -5, 5, 7, -7, 12, -12],
                          p=[.14, .12, .12, .14, .09, .09, .07, .06, .06, .04, .03, .02, .02]))
    nxt = pitch + step
    if not inst.low <= nxt <= inst.high:
        nxt = pitch - step
    return int(np.clip(nxt, inst.low, inst.high))


def compose(inst: Instrument, seed: int, seconds: float = 12.0) -> Phrase:
    """Write a phrase of gestures (runs, repeats, legato lines, soft swells, chords, low notes).

    Onsets are at least 130 ms apart and never within 60 ms of the end of the previous note's
    release gap, so each is a separate event for a +-50 ms scorer.
    """
    rng = np.random.default_rng([seed, inst.program, _VERSION])
    ph = Phrase(inst, seconds)
    t = 300
    end = int(seconds * 1000) - 1500
    pitch = int(rng.integers(inst.low + 5, inst.high - 5))
    gestures = ["run", "repeat", "soft", "low"]
    if inst.sustained:
        gestures += ["legato", "legato", "swell", "vibrato"]
    if inst.chords:
        gestures += ["chord", "chord"]
    while t < end:
        g = str(rng.choice(gestures))
        if g == "run":
            ioi = int(rng.integers(140, 380))
            for _ in range(int(rng.integers(4, 9))):
                pitch = _walk(rng, pitch, inst)
                vel = int(rng.integers(45, 121))
                tags = ("hard",) if vel >= 100 else ()
                ph.notes.append(Note(t, int(ioi * rng.uniform(0.55, 0.85)), pitch, vel, tags))
                t += ioi + int(rng.integers(-20, 21))
        elif g == "repeat":
            ioi = int(rng.integers(180, 360))
            vel = int(rng.integers(50, 110))
            for _ in range(int(rng.integers(3, 6))):
                gap = int(rng.integers(25, 60)) if inst.sustained else int(ioi * 0.3)
                ph.notes.append(Note(t, ioi - gap, pitch, vel, ("repeat",)))
                t += ioi
        elif g == "legato":
            # FluidSynth legato (CC 68): overlapping notes glide without a new attack.
            ph.controls.append((t - 5, bytes([0xB0, 68, 127])))
            ioi = int(rng.integers(260, 620))
            n = int(rng.integers(3, 7))
            vel = int(rng.integers(50, 100))
            for k in range(n):
                pitch = _walk(rng, pitch, inst)
                while ph.notes and pitch == ph.notes[-1].pitch:
                    pitch = _walk(rng, pitch, inst)
                last = k == n - 1
                tags = ("legato",) if k else ()
                ph.notes.append(Note(t, ioi + (0 if last else 30), pitch, vel, tags))
                t += ioi
            ph.controls.append((t + 40, bytes([0xB0, 68, 0])))
        elif g == "soft":
            pitch = _walk(rng, pitch, inst)
            dur = int(rng.integers(500, 1300))
            ph.notes.append(Note(t, dur, pitch, int(rng.integers(22, 45)), ("soft",)))
            t += dur + int(rng.integers(80, 200))
        elif g == "swell":
            # A soft start under low expression, then a crescendo and decrescendo in the note:
            # no new onset, but a lot of energy change.
            pitch = _walk(rng, pitch, inst)
            dur = int(rng.integers(900, 1600))
            ph.controls.append((t - 5, bytes([0xB0, 11, 45])))
            for k in range(0, dur, 20):
                x = k / dur
                level = 45 + int(82 * np.sin(np.pi * min(1.0, x * 1.2)))
                ph.controls.append((t + k, bytes([0xB0, 11, int(np.clip(level, 0, 127))])))
            ph.controls.append((t + dur + 60, bytes([0xB0, 11, 127])))
            ph.notes.append(Note(t, dur, pitch, int(rng.integers(40, 80)), ("soft", "swell")))
            t += dur + int(rng.integers(120, 260))
        elif g == "vibrato":
            pitch = _walk(rng, pitch, inst)
            dur = int(rng.integers(800, 1600))
            rate, depth = rng.uniform(4.5, 6.5), rng.uniform(20, 40)  # Hz, cents
            for k in range(150, dur, 10):  # starts after the attack, as players do
                bend = 8192 + int(8191 * depth / 200 * np.sin(2 * np.pi * rate * k / 1000))
                ph.controls.append((t + k, bytes([0xE0, bend & 0x7F, bend >> 7])))
            ph.controls.append((t + dur + 30, bytes([0xE0, 0, 64])))
            ph.notes.append(Note(t, dur, pitch, int(rng.integers(55, 100)), ("vibrato",)))
            t += dur + int(rng.integers(100, 250))
        elif g == "chord":
            root = int(rng.integers(max(inst.low, 40), min(inst.high, 76) - 7))
            shape = [(0, 4, 7), (0, 3, 7), (0, 4, 7, 12), (0, 5, 9), (0, 7)][rng.integers(5)]
            dur = int(rng.integers(400, 1000))
            vel = int(rng.integers(50, 115))
            for iv in shape:
                if root + iv <= inst.high:
                    ph.notes.append(Note(t, dur, root + iv, vel, ("chord",)))
            t += dur + int(rng.integers(60, 200))
        elif g == "low":
            # Low register (below 45 Hz where the instrument reaches it).
            for _ in range(int(rng.integers(2, 4))):
                p = int(rng.integers(inst.low, min(inst.low + 10, inst.high) + 1))
                dur = int(rng.integers(300, 700))
                ph.notes.append(Note(t, dur, p, int(rng.integers(60, 115)), ("low",)))
                t += dur + int(rng.integers(40, 150))
        t += int(rng.integers(150, 700))  # a rest between gestures
    return ph


def truth_of(ph: Phrase) -> Truth:
    """Group notes starting together (chords) into one onset with all their pitches."""
    by_t: dict[int, list[Note]] = {}
    for n in ph.notes:
        by_t.setdefault(n.start, []).append(n)
    times = sorted(by_t)
    return Truth(np.asarray(times, float) / 1000.0,
                 [tuple(sorted(n.pitch for n in by_t[t])) for t in times],
                 [tuple(sorted({tag for n in by_t[t] for tag in n.tags})) for t in times])


# ---------------------------------------------------------------------------------------------
# MIDI and rendering


def _vlq(n: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, ph: Phrase) -> Path:
    """Write a format-0 standard MIDI file with 1 ms ticks (500 ticks per 500,000 us beat)."""
    events: list[tuple[int, int, bytes]] = [(0, 0, bytes([0xC0, ph.instrument.program])),
                                            (0, 0, bytes([0xB0, 11, 127])),
                                            (0, 0, bytes([0xB0, 91, 0])),  # reverb send off
                                            (0, 0, bytes([0xB0, 93, 0]))]  # chorus send off
    for n in ph.notes:
        # At equal times: controllers, then note-offs, then note-ons (repeats re-attack).
        events.append((n.start, 2, bytes([0x90, n.pitch, n.vel])))
        events.append((n.start + n.dur, 1, bytes([0x80, n.pitch, 64])))
    events += [(t, 0, b) for t, b in ph.controls]
    events.sort(key=lambda e: (e[0], e[1]))
    trk = bytearray(b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big"))
    now = 0
    for t, _, b in events:
        trk += _vlq(max(0, t - now)) + b
        now = max(now, t)
    trk += _vlq(int(ph.seconds * 1000) - now if ph.seconds * 1000 > now else 0)
    trk += b"\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 500) + b"MTrk"
                     + struct.pack(">I", len(trk)) + trk)
    return path


def render(midi: Path, wav: Path, seconds: float) -> np.ndarray:
    """Render a MIDI file with FluidSynth (reverb and chorus off); return (2, n) float32."""
    sf2 = soundfont()
    if sf2 is None or shutil.which("fluidsynth") is None:
        raise RuntimeError(missing_tools())
    argv = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR),
            "-F", str(wav), sf2, str(midi)]
    subprocess.run(argv, check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    with av.open(str(wav)) as c:
        rs = av.AudioResampler(format="fltp", layout="stereo", rate=SR)
        a = np.concatenate([o.to_ndarray() for f in c.decode(audio=0) for o in rs.resample(f)],
                           axis=1)
    n = int(seconds * SR)
    out = np.zeros((2, n), np.float32)
    m = min(n, a.shape[1])
    out[:, :m] = a[:2, :m]
    return out


# ---------------------------------------------------------------------------------------------
# Rooms, noise, encodes


def _reverb(y: np.ndarray, rt60: float, wet_db: float, seed: int) -> np.ndarray:
    """Convolve with a synthetic room: the direct sound plus an exponentially decaying,
    low-passed diffuse tail starting after 12 ms, decorrelated per channel."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * 1.2 * SR)
    t = np.arange(n) / SR
    out = np.empty_like(y)
    for ch in range(y.shape[0]):
        tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
        tail = lfilter([0.3], [1, -0.7], tail)  # darker tail, as real rooms absorb highs
        tail[: int(0.012 * SR)] = 0.0
        tail *= 10 ** (wet_db / 20) / np.sqrt(np.sum(tail**2))
        tail[0] = 1.0
        out[ch] = fftconvolve(y[ch], tail)[: y.shape[1]]
    return out.astype(np.float32)


def _pink(n: int, seed: int) -> np.ndarray:
    """Pink-ish noise (Paul Kellet's filter), unit RMS."""
    w = np.random.default_rng(seed).standard_normal(n)
    p = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                [1, -2.494956002, 2.017265875, -0.522189400], w)
    return (p / np.sqrt(np.mean(p**2))).astype(np.float32)


VARIANTS = ("dry", "room", "hall", "noise")  # the main set; "snr10" is scored on its own
CODECS = ("wav", "m4a", "mp3", "opus")


def finish(y: np.ndarray, variant: str, seed: int) -> np.ndarray:
    """Apply a variant (room, hall, a -55 dB noise floor, or noise 10 dB under the music),
    then normalise the peak to -1 dBFS."""
    if variant in ("room", "hall"):
        y = _reverb(y, 0.6 if variant == "room" else 1.6, -8.0 if variant == "room" else -4.0,
                    seed)
    peak = float(np.max(np.abs(y))) or 1.0
    y = y * np.float32(0.89 / peak)
    if variant in ("noise", "snr10"):
        active = np.abs(y).max(axis=0) > 1e-3
        sig_rms = float(np.sqrt(np.mean(y[:, active] ** 2))) if active.any() else 0.1
        level = sig_rms * 10 ** (-10 / 20) if variant == "snr10" else 10 ** (-55 / 20)
        y = y + level * np.stack([_pink(y.shape[1], seed + k) for k in range(y.shape[0])])
        y = y * np.float32(0.89 / max(1e-9, float(np.max(np.abs(y)))))
    elif variant not in ("dry", "room", "hall"):
        raise ValueError(f"unknown variant {variant!r}")
    return y.astype(np.float32)


def encode(path: Path, y: np.ndarray, codec: str) -> Path:
    """Write (2, n) audio at SR as wav, AAC in m4a, MP3 or Opus in Ogg."""
    if codec == "wav":
        return write_media(path, y, SR)
    if codec == "m4a":
        return write_media(path, y, SR, bit_rate=160000)
    if codec == "mp3":
        return write_media(path, y, SR, bit_rate=192000)
    if codec != "opus":
        raise ValueError(f"unknown codec {codec!r}")
    z = np.ascontiguousarray(resample_poly(y, 160, 147, axis=1).astype(np.float32))
    with av.open(str(path), "w", format="ogg") as c:
        s = c.add_stream("libopus", rate=48000)
        s.layout = "stereo"
        s.bit_rate = 96000
        for i in range(0, z.shape[1], 960):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(z[:, i : i + 960]),
                                           format="fltp", layout="stereo")
            f.sample_rate, f.pts, f.time_base = 48000, i, Fraction(1, 48000)
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


_SUFFIX = {"wav": ".wav", "m4a": ".m4a", "mp3": ".mp3", "opus": ".opus"}


def build_item(inst: str, seed: int, variant: str, codec: str, *, seconds: float = 12.0,
               cache: Path = DEFAULT_CACHE) -> Item:
    """Render (or reuse from the cache) one phrase as one file; return it with its truth."""
    ph = compose(INSTRUMENTS[inst], seed, seconds)
    truth = truth_of(ph)
    key = json.dumps({"v": _VERSION, "i": asdict(ph.instrument), "seed": seed, "s": seconds,
                      "var": variant, "c": codec, "sf": soundfont()}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{inst}-{seed}-{variant}-{digest}{_SUFFIX[codec]}"
    if not path.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            y = render(write_midi(Path(tmp) / "p.mid", ph), Path(tmp) / "r.wav", seconds)
            part = Path(tmp) / f"out{_SUFFIX[codec]}"
            encode(part, finish(y, variant, seed), codec)
            part.rename(path)
    return Item(path, truth, inst, seed, variant, codec)


def build_items(instruments: tuple[str, ...], seeds: tuple[int, ...], *, seconds: float = 12.0,
                variants: tuple[str, ...] = VARIANTS, cache: Path = DEFAULT_CACHE) -> list[Item]:
    """One item per (instrument, seed). The variant and codec follow from the instrument's
    place in INSTRUMENTS and the seed, so len(variants) consecutive seeds give every instrument
    each variant once, and four give it each codec, whichever subset of instruments is built."""
    items = []
    names = list(INSTRUMENTS)
    for inst in instruments:
        i = names.index(inst)
        for seed in seeds:
            variant = variants[(i + seed) % len(variants)]
            codec = CODECS[(i + 3 * seed) % len(CODECS)]
            items.append(build_item(inst, seed, variant, codec, seconds=seconds, cache=cache))
    return items
