"""Every signal pedaltool generates: evaluation DI, fitting DI, sweeps, noise, multisines, steps.

All functions are pure, seeded and reproducible: the same arguments give the same samples.
Levels are digital full scale (1.0 = 0 dBFS). Guitar-like signals are made at a real pickup's
level *for an interface that reads 12 dBu at 0 dBFS* (the NAM plugin's default calibration);
:func:`evaluation_di_for` rescales to a capture's own ``input_level_dbu``.

Two families, never mixed up:

* **Evaluation** (:func:`evaluation_di`): the project's own guitar DI, composed by hand (single
  notes, legato, open-chord strums, palm mutes, soft finger-picking, a crescendo, ring-outs,
  silences). It is for *scoring only*; never fit on it.
* **Fitting / identification** (:func:`fitting_di`, :func:`exp_sweep`, :func:`pink_noise`,
  :func:`multisine`, :func:`level_steps`): different seeds and content. :func:`fitting_di` uses
  the same string and pickup physics as the evaluation DI, but random phrases built from the five
  pitch classes that the evaluation DI (G major / E minor) never plays, with random detuning.

The guitar synthesis (see ``docs/signals.md``):

* string: a digital waveguide / extended Karplus-Strong loop. Delay ``P = fs/f0`` is split into
  an integer delay, a symmetric 3-tap loss filter (1 sample, frequency-dependent damping) and a
  3rd-order Lagrange fractional delay (1..2 samples), so tuning is exact. The loop is FIR, so it
  is computed a whole period per numpy operation (a block of ``D`` samples only reads samples at
  least ``D`` old). Releasing a note (new note on the string, palm mute, end of phrase) switches
  the loop to a heavily damped one.
* excitation: a short pick pulse, low-passed by pick hardness (two one-poles at 0.4..2.4 kHz:
  soft = dark, hard = bright), integrated (string velocity falls as 1/n over harmonics n) and
  combed by the pluck position ``1 - z^(-beta P)``.
* pickup: the position comb ``1 - z^(-alpha P)`` (two coils averaged for a humbucker), then the
  pickup's electrical low-pass: coil L and R into the coil + cable capacitance C loaded by the
  pots and the interface input, a 2nd-order resonance (single coil ~4.2 kHz Q ~1.5, humbucker
  ~3.0 kHz Q ~2.0), discretised by the bilinear transform pre-warped at resonance.

Bit-reproducibility: the guitar signals use only IEEE + - * /, ``scipy.signal.lfilter`` and
scalar libm calls, never BLAS or vectorised transcendental functions whose last bit can depend
on the CPU's SIMD features, so ``examples/eval_di.wav`` is regenerated bit-identically.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

from pedaltool.nam.model import DEFAULT_INPUT_LEVEL_DBU

#: The interface calibration the guitar signals are made for: 0 dBFS reads 12 dBu, the level
#: a capture without ``input_level_dbu`` is played at (as the plugin plays it).
REFERENCE_INTERFACE_DBU = DEFAULT_INPUT_LEVEL_DBU
#: Seed of the evaluation DI. Fitting signals must use other seeds.
EVALUATION_SEED = 20261125
#: Default seed of :func:`fitting_di` (any seed other than EVALUATION_SEED is fine).
FITTING_SEED = 7
#: Peak of the loudest strum in the guitar signals, full scale (-6.9 dBFS, i.e. 2.0 V peak at
#: 12 dBu = 0 dBFS): a passive humbucker strummed hard into a 1 MOhm DI input. Hard single notes
#: then peak at 0.2..0.3 FS (0.9..1.3 V), comparable with a real single-note DI recording (peak
#: 0.34, RMS -22 dBFS); 100 ms RMS reaches -20 dBFS in strums.
GUITAR_PEAK_FS = 0.45
#: RMS of the added pickup/interface noise floor (dBFS, white). Real DIs are never digital zero.
NOISE_FLOOR_DBFS = -90.0

# Standard tuning, MIDI note of each open string (low E .. high e).
OPEN_STRINGS = (40, 45, 50, 55, 59, 64)
_SCALE_LENGTH_MM = 648.0  # Fender scale; positions below are distances from the bridge


def midi_to_hz(note: float) -> float:
    """Equal-tempered frequency (Hz) of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


# --------------------------------------------------------------------------------------------
# Pickup: position comb + electrical resonance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pickup:
    """A passive magnetic pickup, its cable and the DI input it drives.

    Positions are distances from the bridge (mm); a humbucker has two coils, averaged.
    Electrical model: EMF -> series (R, L) -> shunt C (coil + cable) || R_load (pots || DI).
    """

    name: str
    coil_positions_mm: tuple[float, ...]
    inductance_h: float
    resistance_ohm: float
    capacitance_f: float  # coil self-capacitance + cable
    load_ohm: float  # volume pot || tone pot || interface input
    output_gain: float  # relative EMF sensitivity (humbuckers are hotter)

    def resonance(self) -> tuple[float, float]:
        """(resonant frequency Hz, Q) of the loaded pickup's 2nd-order low-pass."""
        a2, a1, a0 = self._analog_denominator()
        w0 = math.sqrt(a0 / a2)
        return w0 / (2.0 * math.pi), w0 * a2 / a1

    def _analog_denominator(self) -> tuple[float, float, float]:
        # H(s) = 1 / ((R + sL)(sC + 1/Rl) + 1) = 1 / (LC s^2 + (RC + L/Rl) s + 1 + R/Rl)
        L, R, C, Rl = self.inductance_h, self.resistance_ohm, self.capacitance_f, self.load_ohm
        return L * C, R * C + L / Rl, 1.0 + R / Rl

    def filter_coefficients(self, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """Digital (b, a) of the electrical low-pass, bilinear with pre-warping at resonance."""
        a2, a1, a0 = self._analog_denominator()
        f_res, _ = self.resonance()
        f_res = min(f_res, 0.45 * rate_hz)
        w = 2.0 * math.pi * f_res
        k = w / math.tan(w / (2.0 * rate_hz))  # pre-warped bilinear constant (1/s)
        b = np.array([1.0, 2.0, 1.0])
        a = np.array([a2 * k * k + a1 * k + a0, 2.0 * (a0 - a2 * k * k), a2 * k * k - a1 * k + a0])
        return b / a[0], a / a[0]


def _rload(*ohms: float) -> float:
    return 1.0 / sum(1.0 / r for r in ohms)


#: Strat-like single coil: 2.5 H, 6 kOhm, 100 pF coil + 500 pF cable (~5 m), 250k volume and
#: tone pots, 1 MOhm DI -> resonance 4.2 kHz, Q 1.5.
SINGLE_COIL_NECK = Pickup("single coil (neck)", (160.0,), 2.5, 6.0e3, 600e-12,
                          _rload(250e3, 250e3, 1e6), 1.0)
SINGLE_COIL_BRIDGE = Pickup("single coil (bridge)", (42.0,), 2.5, 6.0e3, 600e-12,
                            _rload(250e3, 250e3, 1e6), 1.0)
#: PAF-like humbucker: 4.4 H, 8 kOhm, 150 pF + 500 pF, 500k pots, 1 MOhm DI -> 3.0 kHz, Q 2.0.
#: Coils 18 mm apart.
HUMBUCKER_BRIDGE = Pickup("humbucker (bridge)", (38.0, 56.0), 4.4, 8.0e3, 650e-12,
                          _rload(500e3, 500e3, 1e6), 1.8)
HUMBUCKER_NECK = Pickup("humbucker (neck)", (150.0, 168.0), 4.4, 8.0e3, 650e-12,
                        _rload(500e3, 500e3, 1e6), 1.8)
PICKUPS = (SINGLE_COIL_NECK, SINGLE_COIL_BRIDGE, HUMBUCKER_BRIDGE, HUMBUCKER_NECK)


# --------------------------------------------------------------------------------------------
# String: extended Karplus-Strong with exact tuning
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One plucked note on one string.

    start_s/release_s: onset and release (s, phrase time; release None = rings to the end).
    level_db: picking strength, 0 dB = hardest (range used: about -30..0 dB).
    pluck_pos: plucking point as a fraction of the scale length from the bridge (0.05..0.3).
    muted: palm mute (short, damped, dark). legato: hammer-on (no pick: a soft, dark onset).
    """

    start_s: float
    midi: float
    string: int
    level_db: float
    pluck_pos: float = 0.18
    release_s: float | None = None
    muted: bool = False
    legato: bool = False


def _lagrange3(d: float) -> np.ndarray:
    """Taps h[0..3] of a 3rd-order Lagrange fractional delay of d samples (best for 1 <= d <= 2)."""
    h = np.ones(4)
    for k in range(4):
        for j in range(4):
            if j != k:
                h[k] *= (d - j) / (k - j)
    return h


def _loop_filter(period: float, t60_s: float, damping: float, rate_hz: float
                 ) -> tuple[int, np.ndarray]:
    """(integer delay D, 6 FIR taps c) with total loop delay = period samples.

    The loop is y[n] = x[n] + sum_k c[k] y[n - D - k]. Loss filter g*(b, 1-2b, b) with b =
    damping in [0, 0.25] (0.25 = darkest), g sets the fundamental's T60 (s).
    """
    d_int = max(1, int(math.floor(period - 2.0)))
    frac = period - 1.0 - d_int  # Lagrange delay, in [1, 2)
    g = 10.0 ** (-3.0 * period / (t60_s * rate_hz))  # per pass round the loop
    loss = g * np.array([damping, 1.0 - 2.0 * damping, damping])
    lag = _lagrange3(frac)
    c = np.zeros(6)
    for i in range(3):  # explicit convolution: no BLAS, bit-reproducible
        for j in range(4):
            c[i + j] += loss[i] * lag[j]
    return d_int, c


def _run_loop(x: np.ndarray, d_int: int, c_on: np.ndarray, c_off: np.ndarray,
              release_at: int) -> np.ndarray:
    """The string loop over input x, a period-long block per step; c_off from release_at on."""
    n = x.size
    pad = d_int + 6
    buf = np.zeros(pad + n)
    buf[pad:] = x
    i = pad
    end = pad + n
    rel = pad + release_at
    while i < end:
        j = min(i + d_int, end)
        if i < rel < j:
            j = rel  # switch filters exactly at the release sample
        c = c_on if i < rel else c_off
        blk = buf[i:j]
        for k in range(6):
            blk += c[k] * buf[i - d_int - k:j - d_int - k]
        i = j
    return buf[pad:]


def _one_pole_lowpass(x: np.ndarray, fc_hz: float, rate_hz: float) -> np.ndarray:
    p = math.exp(-2.0 * math.pi * fc_hz / rate_hz)
    return sps.lfilter([1.0 - p], [1.0, -p], x)


def _frac_comb(y: np.ndarray, delay: float) -> np.ndarray:
    """y[n] - y[n - delay] with linear interpolation (delay in samples, > 0)."""
    m = int(math.floor(delay))
    f = delay - m
    out = y.copy()
    if m < y.size:
        out[m:] -= (1.0 - f) * y[:y.size - m]
    if m + 1 < y.size:
        out[m + 1:] -= f * y[:y.size - m - 1]
    return out


def _t60_for(f0_hz: float) -> float:
    """Ring time (s) of a guitar string's fundamental: ~6 s on low E, ~2 s at 660 Hz."""
    return 6.0 * (82.4 / f0_hz) ** 0.55


_NOISE_RATE_HZ = 48000.0  # the pick noise is drawn at this rate whatever the signal's


def _pick_width(hard: float, rate_hz: float) -> int:
    """Samples of the pick pulse at ``rate_hz`` (0.1-0.25 ms, shorter for a harder pick)."""
    return max(2, int(round(rate_hz * (0.00025 - 0.00015 * hard))))


def _pick_noise(rng: np.random.Generator, hard: float, rate_hz: float) -> np.ndarray:
    """The pick pulse's noise (unit variance) over its width at ``rate_hz``: drawn as at
    48 kHz and interpolated, so that every rate takes as many values from ``rng`` and plays the
    same performance. Drawn at the signal's rate, the count followed the rate and the shared
    stream went out of step after the first note: at 44.1 and 32 kHz only 1 of 189 notes of
    the evaluation DI kept its random settings, and phrases differed from the 48 kHz ones by an
    ESR of 0.05-0.14 (a review, 2026-12-07). At 48 kHz the values are the ones drawn."""
    n48 = _pick_width(hard, _NOISE_RATE_HZ)
    noise = rng.standard_normal(n48)
    if rate_hz == _NOISE_RATE_HZ:
        return noise
    return np.interp(np.arange(_pick_width(hard, rate_hz)) * (_NOISE_RATE_HZ / rate_hz),
                     np.arange(n48), noise)


def render_note(note: Note, pickup: Pickup, length: int, rate_hz: float,
                rng: np.random.Generator) -> np.ndarray:
    """One note at the pickup's coil(s), before the electrical low-pass (float64, length samples).

    The amplitude is relative (0 dB hardest pick ~ 1); the whole signal is scaled at the end.
    """
    f0 = midi_to_hz(note.midi)
    period = rate_hz / f0
    hard = 10.0 ** (note.level_db / 40.0)  # 0..1 brightness with picking strength
    if note.muted:
        t60, damping, fc = 0.12 + 0.06 * rng.random(), 0.25, 500.0 + 900.0 * hard
    elif note.legato:
        t60, damping, fc = _t60_for(f0), 0.1, 600.0 + 500.0 * hard
    else:
        t60 = _t60_for(f0) * (0.85 + 0.3 * rng.random())
        damping, fc = 0.15 + 0.05 * rng.random(), 400.0 + 2000.0 * hard
    d_int, c_on = _loop_filter(period, t60, damping, rate_hz)
    _, c_off = _loop_filter(period, 0.06, 0.25, rate_hz)  # finger/palm damping on release

    # Pick pulse: a few-sample bump plus a little noise (every pluck differs), low-passed by
    # pick hardness, integrated (velocity ~ 1/n), then the pluck-position comb.
    width = _pick_width(hard, rate_hz)
    x = np.zeros(length)
    nx = min(length, width)
    bump = [0.5 - 0.5 * math.cos(2.0 * math.pi * (i + 1) / (width + 1)) for i in range(nx)]
    x[:nx] = np.array(bump) + 0.15 * _pick_noise(rng, hard, rate_hz)[:nx]
    x = _one_pole_lowpass(_one_pole_lowpass(x, fc, rate_hz), fc, rate_hz)
    x = sps.lfilter([1.0], [1.0, -0.998], x)
    x = _frac_comb(x, max(1.0, note.pluck_pos * period))
    x *= 10.0 ** (note.level_db / 20.0)

    release = length if note.release_s is None else int(round((note.release_s - note.start_s)
                                                                * rate_hz))
    y = _run_loop(x, d_int, c_on, c_off, max(0, min(release, length)))

    # Pickup position comb, one per coil, averaged.
    out = np.zeros(length)
    for pos_mm in pickup.coil_positions_mm:
        out += _frac_comb(y, max(1.0, pos_mm / _SCALE_LENGTH_MM * period))
    out *= pickup.output_gain / len(pickup.coil_positions_mm)
    return out


# --------------------------------------------------------------------------------------------
# Phrases
# --------------------------------------------------------------------------------------------


@dataclass
class Phrase:
    """Notes played with one pickup; duration_s includes the ring-out before the next phrase."""

    pickup: Pickup
    duration_s: float
    notes: list[Note] = field(default_factory=list)


def _string_for(midi: int, prefer: int | None = None) -> int:
    """Lowest-position string that can play midi (frets 0..15), or the preferred one."""
    if prefer is not None and 0 <= midi - OPEN_STRINGS[prefer] <= 20:
        return prefer
    for s in range(5, -1, -1):
        if 0 <= midi - OPEN_STRINGS[s] <= 12:
            return s
    return 0


def _strum(t: float, voicing: tuple[int | None, ...], level_db: float, down: bool,
           rng: np.random.Generator, spread_s: float = 0.025, muted: bool = False,
           release_s: float | None = None, pluck_pos: float = 0.2) -> list[Note]:
    """A strum: one note per sounding string, each string a little later (down = low to high)."""
    strings = [s for s in range(6) if voicing[s] is not None]
    if not down:
        strings = strings[::-1]
    notes = []
    step = spread_s / max(1, len(strings) - 1)
    for i, s in enumerate(strings):
        onset = t + i * step * (0.7 + 0.6 * rng.random())
        # an up-strum hits the treble strings hardest; the last strings of a strum are softer
        # one pick stroke shares its force over the strings: each sounds ~8 dB below a single
        # note picked as hard
        lvl = level_db - 8.0 - (2.0 if not down else 0.0) - 1.5 * rng.random() - 0.4 * i
        notes.append(Note(onset, voicing[s], s, lvl, pluck_pos + 0.03 * rng.standard_normal(),
                          release_s, muted))
    return notes


# Voicings (MIDI per string, None = not played), G major / E minor family for evaluation.
_CHORDS_EVAL = {
    "G": (43, 47, 50, 55, 59, 67), "C": (None, 48, 52, 55, 60, 64),
    "D": (None, None, 50, 57, 62, 66), "Em": (40, 47, 52, 55, 59, 64),
    "Am": (None, 45, 52, 57, 60, 64), "E5": (40, 47, 52, None, None, None),
    "G5": (43, 50, 55, None, None, None), "A5": (None, 45, 52, 57, None, None),
}
_DIATONIC_EVAL = {7, 9, 11, 0, 2, 4, 6}  # G A B C D E F#


def _jit(rng: np.random.Generator, s: float = 0.008) -> float:
    return s * rng.standard_normal()


def _release_overlaps(notes: list[Note], end_s: float) -> list[Note]:
    """Each string sounds one note at a time: a new note releases the previous one."""
    by_string: dict[int, list[Note]] = {}
    for n in sorted(notes, key=lambda n: n.start_s):
        by_string.setdefault(n.string, []).append(n)
    out = []
    for seq in by_string.values():
        for k, n in enumerate(seq):
            nxt = seq[k + 1].start_s if k + 1 < len(seq) else end_s
            rel = nxt if n.release_s is None else min(n.release_s, nxt)
            out.append(Note(n.start_s, n.midi, n.string, n.level_db, n.pluck_pos, rel,
                            n.muted, n.legato))
    return sorted(out, key=lambda n: n.start_s)


def _evaluation_phrases(rng: np.random.Generator, variation: int) -> list[Phrase]:
    """The composed evaluation DI: five phrases at 120 bpm, 19.6 s with lead-in and gaps."""
    b = 60.0 / 120.0  # one beat (s)
    e = b / 2.0
    phrases = []
    tr = (0, 2, -2, 0)[variation % 4]  # later cycles (longer signals) transpose a little

    # A. single-note riff, E minor pentatonic, bridge humbucker, mf, with two hammer-ons.
    riff = [(0, 52, -6, False), (1, 55, -8, False), (2, 57, -5, False), (2.5, 59, -12, True),
            (3, 62, -4, False), (4, 64, -3, False), (5, 62, -7, False), (5.5, 64, -11, True),
            (6, 59, -5, False), (7, 57, -6, False), (8, 55, -5, False), (9, 52, -2, False)]
    notes = []
    for k, (pos, midi, lvl, leg) in enumerate(riff):
        m = midi + tr
        s = _string_for(m, prefer=None if not leg else notes[-1].string)
        rel = None if k == len(riff) - 1 else (pos + 1.0) * e + 0.02
        notes.append(Note(pos * e + _jit(rng), m, s, lvl + 1.5 * rng.standard_normal(),
                          0.12 + 0.04 * rng.random(), rel, legato=leg))
    phrases.append(Phrase(HUMBUCKER_BRIDGE, 10 * e + 1.0, notes))

    # B. open-chord strums G C D Em, bridge humbucker, f..ff (0..-6 dB).
    notes = []
    pattern = [(0.0, True, -2), (1.0, True, -5), (1.5, False, -8), (2.5, False, -7),
               (3.0, True, -3), (3.5, False, -8)]
    for bar, name in enumerate(("G", "C", "D", "Em")):
        voicing = tuple(None if v is None else v + tr for v in _CHORDS_EVAL[name])
        last = bar == 3
        for beat, down, lvl in (pattern if not last else [(0.0, True, 0.0)]):
            notes += _strum(bar * 2 * b + beat * b / 2 + _jit(rng), voicing,
                            lvl + rng.standard_normal(), down, rng,
                            spread_s=0.02 + 0.02 * rng.random())
    phrases.append(Phrase(HUMBUCKER_BRIDGE, 6 * b + 1.3, notes))

    # C. palm-muted chugs on E5/G5/A5 in 8ths and 16ths, then an open accent.
    notes = []
    t = 0.0
    seq = ["E5"] * 6 + ["G5", "G5", "A5", "A5"] + ["E5"] * 4
    for k, name in enumerate(seq):
        dur = e if k < 6 else e / 2 if k >= 10 else e
        voicing = tuple(None if v is None else v + tr for v in _CHORDS_EVAL[name])
        lvl = (-4.0 if k % 2 == 0 else -8.0) + rng.standard_normal()
        notes += _strum(t + _jit(rng, 0.004), voicing, lvl, True, rng, spread_s=0.008,
                        muted=True, release_s=t + dur * 0.9, pluck_pos=0.1)
        t += dur
    accent = tuple(None if v is None else v + tr for v in _CHORDS_EVAL["E5"])
    notes += _strum(t, accent, -1.0, True, rng, spread_s=0.012, release_s=t + 0.8,
                    pluck_pos=0.1)
    phrases.append(Phrase(HUMBUCKER_BRIDGE, t + 1.0, notes))

    # D. soft finger-picked arpeggios on the neck single coil, pp (-26..-16 dB).
    notes = []
    arps = [("Em", (0, 3, 4, 5, 4, 3)), ("C", (1, 3, 4, 5, 4, 3)), ("D", (2, 3, 4, 5, 4, 3))]
    t = 0.0
    for name, order in arps:
        voicing = _CHORDS_EVAL[name]
        for s in order:
            lvl = -26.0 + 10.0 * rng.random()
            notes.append(Note(t + _jit(rng), voicing[s] + tr, s, lvl, 0.3 + 0.03 * rng.random()))
            t += e / 1.5
    phrases.append(Phrase(SINGLE_COIL_NECK, t + 0.7, notes))

    # E. crescendo on repeated notes (-30 dB .. 0 dB) on the bridge single coil, then a hard
    # Em strum ringing out.
    notes = []
    t = 0.0
    steps = 12
    for k in range(steps):
        lvl = -30.0 + 30.0 * k / (steps - 1)
        m = (52, 55, 57, 59)[k % 4] + tr
        notes.append(Note(t + _jit(rng, 0.004), m, _string_for(m), lvl, 0.15,
                          t + e * 0.45 * 0.95))
        t += e * 0.45
    voicing = tuple(None if v is None else v + tr for v in _CHORDS_EVAL["Em"])
    notes += _strum(t + 0.1, voicing, 0.0, True, rng, spread_s=0.03)
    phrases.append(Phrase(SINGLE_COIL_BRIDGE, t + 1.6, notes))
    return phrases


def _render_phrases(phrases: list[Phrase], rate_hz: float, n_total: int, lead_s: float,
                    gap_s: float, rng: np.random.Generator) -> np.ndarray:
    """Lay phrases one after another (with silence between) and render them, float64."""
    out = np.zeros(n_total)
    t0 = lead_s
    for ph in phrases:
        start = int(round(t0 * rate_hz))
        if start >= n_total:
            break
        length = min(int(round(ph.duration_s * rate_hz)), n_total - start)
        coil = np.zeros(length)
        for n in _release_overlaps(ph.notes, ph.duration_s - 0.15):
            a = max(0, int(round(n.start_s * rate_hz)))
            if a >= length:
                continue
            coil[a:] += render_note(n, ph.pickup, length - a, rate_hz, rng)
        b, a_ = ph.pickup.filter_coefficients(rate_hz)
        seg = sps.lfilter(b, a_, coil)
        # the hand damps everything at the phrase end: 60 ms fade over the last 150 ms
        fade = min(length, int(0.15 * rate_hz))
        seg[length - fade:] *= np.linspace(1.0, 0.0, fade) ** 2
        out[start:start + length] += seg
        t0 += ph.duration_s + gap_s
    return out


def _finish(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale to the reference level, add the noise floor, float32."""
    peak = float(np.max(np.abs(x)))
    if peak > 0.0:
        x = x * (GUITAR_PEAK_FS / peak)
    x = x + 10.0 ** (NOISE_FLOOR_DBFS / 20.0) * rng.standard_normal(x.size)
    return x.astype(np.float32)


_EVAL_LEAD_S = 0.2  # silence before the first phrase (s)
_EVAL_GAP_S = 0.3  # silence between phrases (s)


# the bundled copy of the default evaluation DI (examples/eval_di.wav, 48 kHz, 20 s)
_BUNDLED_EVAL = (48000.0, 20.0, EVALUATION_SEED)


def _bundled_evaluation_di(rate_hz: float, seconds: float, seed: int) -> np.ndarray | None:
    """examples/eval_di.wav when it is what is asked for (48 kHz, 20 s, the default seed), else
    None. Reading it takes milliseconds where the synthesis takes 2-3 s of every fit and
    compare; tests/test_signals.py checks that it equals the synthesis bit for bit."""
    if (rate_hz, seconds, seed) != _BUNDLED_EVAL:
        return None
    from pedaltool.audio import read_wav
    from pedaltool.errors import PedaltoolError
    from pedaltool.paths import examples_dir

    try:
        clip = read_wav(examples_dir() / "eval_di.wav")
    except PedaltoolError:  # not shipped here: synthesise it
        return None
    if clip.rate_hz != rate_hz or clip.samples.size != int(round(seconds * rate_hz)):
        return None
    return np.asarray(clip.samples, np.float32)


@functools.lru_cache(maxsize=8)
def _evaluation_cached(rate_hz: float, seconds: float, seed: int) -> np.ndarray:
    x = _bundled_evaluation_di(rate_hz, seconds, seed)
    if x is None:
        x = synthesise_evaluation_di(rate_hz, seconds, seed)
    x.setflags(write=False)
    return x


def synthesise_evaluation_di(rate_hz: float = 48000.0, seconds: float = 20.0,
                             seed: int = EVALUATION_SEED) -> np.ndarray:
    """The evaluation DI (see :func:`evaluation_di`) synthesised, never read from the bundled
    file, float32."""
    rng = np.random.default_rng(seed)
    n_total = int(round(seconds * rate_hz))
    phrases: list[Phrase] = []
    total = _EVAL_LEAD_S
    cycle = 0
    while total < seconds:
        for ph in _evaluation_phrases(rng, cycle):
            phrases.append(ph)
            total += ph.duration_s + _EVAL_GAP_S
        cycle += 1
    return _finish(_render_phrases(phrases, rate_hz, n_total, _EVAL_LEAD_S, _EVAL_GAP_S, rng),
                   rng)


def evaluation_di(rate_hz: float = 48000.0, seconds: float = 20.0,
                  seed: int = EVALUATION_SEED) -> np.ndarray:
    """The project's guitar DI for *scoring* (never fit on it), float32 mono.

    Five phrases at 120 bpm (19.85 s with a 0.2 s lead-in; repeated with small transpositions
    if ``seconds`` is longer):
    a single-note riff with hammer-ons (bridge humbucker), open-chord strums G-C-D-Em with
    per-string delays (10..40 ms per strum), palm-muted power-chord chugs and an open accent,
    soft finger-picked arpeggios (neck single coil, -26..-16 dB), a crescendo over 30 dB and a
    hard Em strum ringing out; 0.3 s of silence between phrases.

    Level (assumes an interface that reads 12 dBu at 0 dBFS): the hardest strum peaks at
    ``GUITAR_PEAK_FS`` = 0.45 (-6.9 dBFS, 2 V peak), hard single notes at 0.2..0.3; RMS in
    100 ms frames reaches -20 dBFS, the loud phrases have RMS -29..-27 dBFS including their
    ring-outs, the whole signal (soft phrases, silences) about -31 dBFS; noise floor -90 dBFS.
    Use :func:`evaluation_di_for` to rescale to a capture's calibration.

    rate_hz: sample rate (Hz); seconds: length (s), exact (``round(seconds * rate_hz)`` samples);
    seed: micro-timing, dynamics and pick noise. Returns a new writable array. At 48 kHz, 20 s
    and the default seed it is read from the bundled examples/eval_di.wav (the same bits).
    """
    return _evaluation_cached(float(rate_hz), float(seconds), int(seed)).copy()


def level_scale_for(model_input_level_dbu: float | None) -> float:
    """Linear gain taking a 12-dBu-referenced DI to a capture's calibration.

    Digital level = DI volts / (volts at 0 dBFS): with ``input_level_dbu`` = L dBu at 0 dBFS the
    same guitar reads ``10 ** ((12 - L) / 20)`` times the reference level. None -> 12 dBu (plugin
    default) -> 1.0.
    """
    dbu = REFERENCE_INTERFACE_DBU if model_input_level_dbu is None else float(model_input_level_dbu)
    return 10.0 ** ((REFERENCE_INTERFACE_DBU - dbu) / 20.0)


def evaluation_di_for(model_input_level_dbu: float | None, rate_hz: float = 48000.0,
                      seconds: float = 20.0) -> np.ndarray:
    """:func:`evaluation_di` at a capture's calibration (``metadata.input_level_dbu`` or None)."""
    x = evaluation_di(rate_hz, seconds) * np.float32(level_scale_for(model_input_level_dbu))
    return x.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Fitting / identification signals
# --------------------------------------------------------------------------------------------

# Pitch classes the evaluation DI never plays (C#, D#, F, G#, A#: the Db major pentatonic):
# every fitting note comes from these, chord shapes are snapped down onto them.
_FIT_PITCH_CLASSES = tuple(sorted(set(range(12)) - _DIATONIC_EVAL))
# Chord shapes (intervals above a root on the low strings), rooted on fitting pitch classes.
_FIT_SHAPES = ((0, 7, 12), (0, 7, 12, 16, 19), (0, 7, 12, 15, 19, 24), (0, 5, 10, 15),
               (0, 7, 12, 16), (0, 4, 7, 12, 16))


def _fitting_phrase(rng: np.random.Generator) -> Phrase:
    pickup = PICKUPS[int(rng.integers(len(PICKUPS)))]
    kind = int(rng.integers(4))
    base_db = -30.0 + 30.0 * rng.random()
    notes: list[Note] = []
    t = 0.0
    detune = 0.3 * (rng.random() - 0.5)  # +-15 cents: never exactly the evaluation's pitches
    if kind == 0:  # single notes
        for _ in range(int(rng.integers(4, 10))):
            pc = _FIT_PITCH_CLASSES[int(rng.integers(5))]
            m = pc + 12 * int(rng.integers(3, 6))
            m = min(max(m, 41), 80)
            dur = float(rng.choice([0.12, 0.2, 0.3, 0.45, 0.8]))
            lvl = min(0.0, base_db + 6.0 * rng.standard_normal())
            notes.append(Note(t, m + detune, _string_for(m), lvl, 0.08 + 0.2 * rng.random(),
                              t + dur * (0.6 + 0.4 * rng.random()), legato=rng.random() < 0.15))
            t += dur
    else:  # chords: open strums (1), palm mutes (2), arpeggios (3)
        for _ in range(int(rng.integers(2, 6))):
            root = _FIT_PITCH_CLASSES[int(rng.integers(5))] + 12 * int(rng.integers(3, 5))
            root = min(max(root, 41), 52)
            shape = _FIT_SHAPES[int(rng.integers(len(_FIT_SHAPES)))]
            voicing: list[int | None] = [None] * 6
            s0 = _string_for(root, prefer=0 if root < 45 else 1)
            for k, iv in enumerate(shape):
                if s0 + k < 6:
                    m = root + iv
                    while m % 12 not in _FIT_PITCH_CLASSES:  # stay in the fitting note set
                        m -= 1
                    voicing[s0 + k] = m
            v = tuple(None if p is None else p + detune for p in voicing)
            lvl = min(0.0, base_db + 4.0 * rng.standard_normal())
            if kind == 3:
                for s in range(6):
                    if v[s] is not None:
                        notes.append(Note(t, v[s], s, lvl - 6.0 * rng.random(),
                                          0.1 + 0.2 * rng.random()))
                        t += float(rng.uniform(0.1, 0.25))
                continue
            muted = kind == 2
            reps = int(rng.integers(1, 5)) if not muted else int(rng.integers(3, 9))
            for r in range(reps):
                dur = float(rng.choice([0.14, 0.27, 0.55])) if muted else float(
                    rng.choice([0.27, 0.55, 1.1]))
                notes += _strum(t, v, lvl - 3.0 * (r % 2), r % 2 == 0 or muted, rng,
                                spread_s=float(rng.uniform(0.006, 0.045)), muted=muted,
                                release_s=t + 0.9 * dur if muted else None,
                                pluck_pos=float(rng.uniform(0.08, 0.3)))
                t += dur
    return Phrase(pickup, t + float(rng.uniform(0.3, 1.5)), notes)


def fitting_di(rate_hz: float = 48000.0, seconds: float = 30.0, seed: int = FITTING_SEED,
               level_scale: float = 1.0) -> np.ndarray:
    """Plucked-string DI for *fitting*: same physics as the evaluation DI, different music.

    Random phrases (single notes with some hammer-ons, open strums, palm mutes, arpeggios) on
    random pickups, notes only from C#, D#, F, G#, A# (never played by the evaluation DI) with a
    random +-15 cent detune, dynamics about -40..0 dB. Level as :func:`evaluation_di` (loudest
    peak ``GUITAR_PEAK_FS`` = 0.45 FS for a 12 dBu interface) times ``level_scale`` (linear; use
    :func:`level_scale_for`). Phrases end with 0.3..1.5 s of ring-out, then 0.25 s of silence.
    float32, ``round(seconds*rate_hz)`` samples.
    """
    if seed == EVALUATION_SEED:
        raise ValueError("fitting_di: the evaluation seed is reserved for scoring")
    rng = np.random.default_rng(seed)
    n_total = int(round(seconds * rate_hz))
    phrases = []
    total = 0.1
    while total < seconds:
        ph = _fitting_phrase(rng)
        phrases.append(ph)
        total += ph.duration_s + 0.25
    x = _finish(_render_phrases(phrases, rate_hz, n_total, 0.1, 0.25, rng), rng)
    return (x * np.float32(level_scale)).astype(np.float32)


@dataclass(frozen=True)
class ExpSweep:
    """An exponential sine sweep and its Farina inverse filter.

    ``signal`` (float32, peak ``level``) sweeps f0_hz..f1_hz; ``inverse`` (float64) is the
    time-reversed sweep with a +6 dB/octave envelope, scaled so that
    ``fftconvolve(response, inverse)`` of an identity system has unity gain mid-band.
    """

    signal: np.ndarray
    inverse: np.ndarray
    f0_hz: float
    f1_hz: float
    rate_hz: float
    level: float

    def impulse_response(self, response: np.ndarray, length: int) -> np.ndarray:
        """Linear impulse response (``length`` samples) of a system whose output to
        ``signal`` is ``response``; harmonic distortion products land before it and are cut."""
        full = sps.fftconvolve(np.asarray(response, float), self.inverse)
        start = self.signal.size - 1
        return full[start:start + length]

    def harmonic_response(self, response: np.ndarray, order: int, length: int) -> np.ndarray:
        """Impulse response of the order-th harmonic (order 2, 3, ...), Farina's time offset
        ``L ln(order)`` before the linear response."""
        full = sps.fftconvolve(np.asarray(response, float), self.inverse)
        sweep_rate = (self.signal.size / self.rate_hz) / math.log(self.f1_hz / self.f0_hz)
        start = self.signal.size - 1 - int(round(sweep_rate * math.log(order) * self.rate_hz))
        return full[max(0, start):max(0, start) + length]


def exp_sweep(f0_hz: float = 20.0, f1_hz: float = 20000.0, seconds: float = 2.0,
              rate_hz: float = 48000.0, level: float = 0.5, fade_s: float = 0.01) -> ExpSweep:
    """Exponential (log) sine sweep f0_hz -> f1_hz of ``seconds``, peak ``level`` (linear FS).

    Phase: 2 pi f0 L (exp(t/L) - 1), L = T / ln(f1/f0); Hann fades of ``fade_s`` (s) at both
    ends. f1_hz is clipped to 0.95 * Nyquist.
    """
    f1_hz = min(f1_hz, 0.95 * rate_hz / 2.0)
    n = int(round(seconds * rate_hz))
    t = np.arange(n) / rate_hz
    sweep_rate = seconds / math.log(f1_hz / f0_hz)
    x = np.sin(2.0 * math.pi * f0_hz * sweep_rate * (np.exp(t / sweep_rate) - 1.0))
    nf = max(1, min(n // 4, int(fade_s * rate_hz)))
    w = np.hanning(2 * nf)
    x[:nf] *= w[:nf]
    x[n - nf:] *= w[nf:]
    inv = x[::-1] * np.exp(-t / sweep_rate)
    # unity gain at the geometric centre of the band
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    h = np.fft.rfft(x, nfft) * np.fft.rfft(inv, nfft)
    fc = math.sqrt(f0_hz * f1_hz)
    k = int(round(fc * nfft / rate_hz))
    inv = inv / float(np.median(np.abs(h[max(1, k - 8):k + 8])))
    return ExpSweep((level * x).astype(np.float32), inv / level, f0_hz, f1_hz, rate_hz, level)


# Julius O. Smith's 3-pole/3-zero pink (1/f) filter, accurate to +-0.3 dB above ~10 Hz at 44.1k.
_PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)


def pink_noise(rate_hz: float = 48000.0, seconds: float = 5.0, rms_dbfs: float = -20.0,
               seed: int = 11, highpass_hz: float = 20.0) -> np.ndarray:
    """Gaussian pink noise (-3 dB/octave) at ``rms_dbfs`` RMS, high-passed at ``highpass_hz``.

    float32, ``round(seconds*rate_hz)`` samples. Crest factor ~4 (peaks ~12 dB above RMS).
    """
    n = int(round(seconds * rate_hz))
    rng = np.random.default_rng(seed)
    warm = int(rate_hz)  # let the filters settle: the output starts stationary
    w = rng.standard_normal(n + warm)
    x = sps.lfilter(_PINK_B, _PINK_A, w)
    if highpass_hz > 0:
        sos = sps.butter(2, highpass_hz, "highpass", fs=rate_hz, output="sos")
        x = sps.sosfilt(sos, x)
    x = x[warm:]
    x *= 10.0 ** (rms_dbfs / 20.0) / math.sqrt(float(np.mean(x * x)))
    return x.astype(np.float32)


def multisine(rate_hz: float = 48000.0, seconds: float = 2.0, f0_hz: float = 20.0,
              f1_hz: float = 16000.0, rms_dbfs: float = -20.0, seed: int = 13,
              period_s: float = 0.5, spectrum: str = "pink") -> np.ndarray:
    """Random-phase periodic multisine: every FFT bin of a ``period_s`` period between f0_hz and
    f1_hz, amplitude flat ("white") or 1/sqrt(f) ("pink"), repeated to ``seconds``, scaled to
    ``rms_dbfs``. Periodic, so steady-state responses can be averaged per period. float32.
    """
    if spectrum not in ("pink", "white"):
        raise ValueError(f"multisine: spectrum must be 'pink' or 'white', not {spectrum!r}")
    p = int(round(period_s * rate_hz))
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(p, 1.0 / rate_hz)
    band = (freqs >= f0_hz) & (freqs <= min(f1_hz, 0.95 * rate_hz / 2.0))
    amp = np.zeros(freqs.size)
    amp[band] = 1.0 if spectrum == "white" else 1.0 / np.sqrt(freqs[band])
    spec = amp * np.exp(2j * math.pi * rng.random(freqs.size))
    one = np.fft.irfft(spec, p)
    n = int(round(seconds * rate_hz))
    x = np.tile(one, n // p + 1)[:n]
    x *= 10.0 ** (rms_dbfs / 20.0) / math.sqrt(float(np.mean(one * one)))
    return x.astype(np.float32)


@dataclass(frozen=True)
class LevelSteps:
    """A tone or noise burst repeated at stepped levels; ``segments`` = (start, stop, dBFS)."""

    samples: np.ndarray
    segments: tuple[tuple[int, int, float], ...]
    rate_hz: float


def level_steps(rate_hz: float = 48000.0,
                levels_dbfs: tuple[float, ...] = (-48, -42, -36, -30, -24, -18, -12, -6, -3, 0),
                step_s: float = 0.25, gap_s: float = 0.05, kind: str = "sine",
                freq_hz: float = 220.0, seed: int = 17) -> LevelSteps:
    """Bursts at stepped levels, for static curves and compression.

    kind "sine": a ``freq_hz`` sine, each burst's *peak* at the step level (dBFS);
    kind "pink": pink noise bursts with the step level as *RMS* (dBFS).
    Each burst has 5 ms raised-cosine ramps and is followed by ``gap_s`` of silence.
    """
    if kind not in ("sine", "pink"):
        raise ValueError(f"level_steps: kind must be 'sine' or 'pink', not {kind!r}")
    n_step = int(round(step_s * rate_hz))
    n_gap = int(round(gap_s * rate_hz))
    ramp = max(1, min(n_step // 4, int(0.005 * rate_hz)))
    env = np.ones(n_step)
    r = 0.5 - 0.5 * np.cos(math.pi * np.arange(ramp) / ramp)
    env[:ramp] = r
    env[n_step - ramp:] = r[::-1]
    out = np.zeros(len(levels_dbfs) * (n_step + n_gap))
    segs = []
    for k, lvl in enumerate(levels_dbfs):
        a = k * (n_step + n_gap)
        g = 10.0 ** (lvl / 20.0)
        if kind == "sine":
            burst = g * np.sin(2.0 * math.pi * freq_hz * np.arange(n_step) / rate_hz)
        else:
            burst = pink_noise(rate_hz, step_s, float(lvl), seed + k).astype(float)[:n_step]
        out[a:a + n_step] = burst * env
        segs.append((a, a + n_step, float(lvl)))
    return LevelSteps(out.astype(np.float32), tuple(segs), float(rate_hz))
