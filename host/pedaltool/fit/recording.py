"""Fit from a recorded DI / reamp WAV pair instead of a NAM capture.

The pair is aligned by cross-correlation (the reamp may start later or earlier by up to 1 s;
a larger offset, up to 5 s, is recognised and refused with advice to trim the files),
trimmed to the common part, its DC offsets removed, split 80 % fitting / 20 % held out (a pair
longer than 30 s: six excerpts spread over it, the last held out), and fitted with the same
pipeline; the last eighth of the fitting part validates (structure choice, finalists), so the
held-out part only scores. The score is device-exact on the held-out part (the recording
cannot be probed with the evaluation DI). The probe (latency, EQ) reads a contiguous stretch
of the fitting part: the joins between excerpts are clicks at lag 0 in both files. The BLA
split degrades to "all EQ in the post filter" since only one level was recorded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy import signal as sps
from scipy.ndimage import median_filter

from pedaltool.audio import gain_to_db, peak_dbfs, silence_text, silent
from pedaltool.errors import FitError, PedaltoolError
from pedaltool.fit import core, linear, metrics
from pedaltool.fit.lag import cross_correlation, lag_window
from pedaltool.outfile import same_file

MAX_LAG_S = 1.0
MIN_SECONDS = 3.0
# what is fitted (and scored) of a pair once aligned and cut to where both files sound, at
# least: a little under MIN_SECONDS, which its alignment may shift away in part (a device's
# latency, the causal margin, a recorder's offset): a pair of 3 s whose reamp came 0.99 s late
# was fitted on the 2 s the two shared (a review), while every 3 s pair loses a few samples
MIN_FITTED_S = 2.75
CORRELATION_S = 20.0  # of the pair, from the DI's first note, that the alignment correlates
# the same take: the correlation of the two files' loudness envelopes (dB in ENVELOPE_BLOCK_S
# blocks, once aligned). The evaluation DI through each of the 11 scored captures: 0.87-1.00;
# through the same captures, another take (the fitting DI): -0.16..0.04 (2026-12-05). The
# linear coherence used before refused 4 of the 11 real renders (0.13-0.19: high gain keeps
# little of the input linearly)
MIN_ENVELOPE_CORRELATION = 0.5
ENVELOPE_BLOCK_S = 0.01
# a pair whose reamp level rises by at most this many dB per dB of DI (level_slope) is driven
# into saturation and gets the saturating structures, as a capture compressing by
# structure.SATURATING_DB does. The evaluation DI (20 s) / a fitting DI (8 s) through the
# scored captures (2026-12-06): saturating ones A1 -0.01/-0.01, 5150 -0.01/-0.02, HM-2
# 0.14/0.04, Splawn 0.15/0.05, Bugera 0.16/0.06, AC15 0.24/0.12, JCM2000 crunch 0.60/0.37
# (21 dB, the mildest of them); mild ones Klon 0.68/0.53, TS9 0.73/0.56, OD808 0.81/0.61,
# JCM2000 clean 1.02/1.02
SATURATING_SLOPE = 0.45
# less playing than this (s) to probe says too little: 3 s pairs of the OD808 gave 0.23-0.53
# over five takes, the TS9 0.38-0.58; from 4 s on the mild ones stay above 0.5, and a short
# pair keeps the mild structures (as every pair did before)
SLOPE_MIN_SECONDS = 4.0
# the whitened cross-correlation's peak over its median within +-MAX_LAG_S: unrelated files
# give 6-10.5 (the largest of 96000 noise-like values), the same take through a high-gain
# capture only 17-25 in 8 s, one chord ringing for 5 s through the 5150 17.7 (2026-12-05; the
# limit was 20, which refused those). Below MIN_PEAK_RATIO nothing can be aligned; from
# CLEAR_PEAK_RATIO on the peak alone says "the same take"; between the two the envelopes
# decide (the 5150's ringing chord: 0.13, so they cannot decide alone)
MIN_PEAK_RATIO = 8.0
CLEAR_PEAK_RATIO = 13.0
# a pair offset by more than MAX_LAG_S: a peak up to FAR_LAG_S that is at least CLEAR_PEAK_RATIO
# and FAR_PEAK_FACTOR times the one within MAX_LAG_S says so (before, a 1.5 s offset was
# aligned on a stray peak, fitted and refused as useless). The evaluation DI through the 11
# scored captures, offset 1.5 s either way: 30-3500 against at most 12 within +-1 s; a pair
# that is not offset: at most 25 (unrelated files' repeated notes, 8 s) beyond +-1 s against
# 20-3500 for its own peak (2026-12-06)
FAR_LAG_S = 5.0
FAR_PEAK_FACTOR = 2.0
# both files faded in and out over this many seconds before the correlation: two files cut
# at the same sample mid-note (exported over one DAW region) share a step at each end, which
# whitening weighs like all the playing, and the peak went to lag 0 instead of the
# interface's 480 samples (an audit, 2026-12-06). The peak ratios above, on the evaluation
# DI through the 11 scored captures and on another take, moved by at most 3 % with it
EDGE_FADE_S = 0.05


def align(di: np.ndarray, target: np.ndarray, rate_hz: float, name: str = "pair"
          ) -> tuple[np.ndarray, np.ndarray, int]:
    """Shift ``target`` so that it lines up with ``di`` (keeping ALIGN_MARGIN samples of causal
    margin before the peak of the device's answer, ``_bla_peak_lag``); returns (di, target, lag)
    trimmed to equal length, ``lag`` the whitened correlation's peak (samples, the reamp
    late when positive). FitError when they do not match."""
    di = np.asarray(di, np.float64)
    target = np.asarray(target, np.float64)
    n = min(len(di), len(target))
    if n < MIN_SECONDS * rate_hz:
        raise FitError(f"{name}: recordings too short ({n / rate_hz:.2f} s, need "
                       f"{MIN_SECONDS:g} s)")
    for what, x in (("DI", di), ("reamp", target)):
        if silent(x[:n]):  # (a stereo file whose first channel is silent: read_wav says so)
            raise FitError(f"{name}: the {what} is silent ({silence_text(x[:n])})")
    # whitened cross-correlation (PHAT), robust to the device's EQ; each file's mean removed
    # first (a DC offset on both, 0.01 already, pulled the peak to lag 0) and its ends faded
    # (EDGE_FADE_S); this is the correlation's own: fit_recording removes the aligned files'
    # DC, with its note, after (remove_dc)
    # from the DI's first note: a lead-in longer than the window left nothing to correlate
    # (21 s of one DAW region's silence read as "different takes", a review)
    s0 = playing_span(di[:n], rate_hz)[0]
    if n - s0 < MIN_SECONDS * rate_hz:
        s0 = 0
    m = int(min(n - s0, CORRELATION_S * rate_hz))
    fade = sps.windows.tukey(m, 2 * EDGE_FADE_S * rate_hz / m)  # (m >= MIN_SECONDS)
    a, b = ((v[s0:s0 + m] - np.mean(v[s0:s0 + m])) * fade for v in (di, target))
    cc = np.abs(cross_correlation(b, a, whiten=True))
    max_lag = int(MAX_LAG_S * rate_hz)
    lags, vals = lag_window(cc, 0, max_lag)
    k = int(np.argmax(vals))
    lag = int(lags[k])
    noise = float(np.median(vals)) + 1e-12
    ratio = float(vals[k]) / noise
    # MIN_SECONDS > MAX_LAG_S: the window always reaches beyond max_lag
    far_lags, far_vals = lag_window(cc, max_lag + 1, min(int(FAR_LAG_S * rate_hz), m - 1))
    far_lag, far_ratio = int(far_lags[np.argmax(far_vals)]), float(far_vals.max()) / noise
    if far_ratio >= max(FAR_PEAK_FACTOR * ratio, CLEAR_PEAK_RATIO):
        raise FitError(f"{name}: the reamp seems to start {abs(far_lag) / rate_hz:.2f} s "
                       f"{'later' if far_lag > 0 else 'earlier'} than the DI, more than the "
                       f"±{MAX_LAG_S:g} s aligned automatically: trim the files to start "
                       "together (or are they different takes?)")
    if ratio < MIN_PEAK_RATIO:
        raise FitError(f"{name}: the DI and the reamp do not match (no clear alignment "
                       f"within ±{MAX_LAG_S:g} s: different takes, or offset by more?)")
    # keep a few samples so the model's own latency stays causal, counted from the peak of
    # the device's answer when that is before the correlation's
    peak = _bla_peak_lag(di, target, lag, rate_hz, s0)
    d, t = _shifted(di, target, min(lag, peak) - ALIGN_MARGIN)
    if len(d) < MIN_FITTED_S * rate_hz:  # (each file was checked above)
        raise FitError(f"{name}: only {len(d) / rate_hz:.2f} s in common once aligned (the "
                       f"reamp {abs(lag) / rate_hz:.2f} s {'later' if lag > 0 else 'earlier'}; "
                       f"need {MIN_FITTED_S:g} s)")
    if ratio < CLEAR_PEAK_RATIO:
        r = envelope_correlation(d, t, rate_hz)
        if not r >= MIN_ENVELOPE_CORRELATION:
            raise FitError(f"{name}: the DI and the reamp do not match (their loudness moves "
                           f"together by {r:.2f} of 1); are they the same take?")
    return d, t, lag


ALIGN_MARGIN = 8  # samples the aligned reamp keeps before the peak of the device's answer
# a saturating device's whitened correlation peaks well after its answer does (the HM-2: 37
# samples against its probe latency of 10; the Splawn 27 against 13): lined up on it, the
# reamp came before the DI and no causal model fitted it (held-out ESR 0.65-0.78 on a 20 s
# HM-2 pair). The peak of the pair's BLA, measured with the pair lined up BLA_SPAN samples
# early, comes 2-3 samples after the capture's latency: 5150 8 against 6, TS9 7/5, JCM2000
# clean 9/6, HM-2 13/10, Splawn 15/13. Its onset (linear.latency_from_bla) came too early
# on a high-gain amp (the 5150: -1), whose BLA rises before its answer does
BLA_SPAN = 256
BLA_SECONDS = 10.0
# at most this far before the correlation's peak (samples): the fit's own latency probe
# looks 200 samples deep (linear.latency_from_bla), and a stray early peak must not move the
# reamp past it
BLA_MAX_LEAD = 64


def _shifted(di: np.ndarray, target: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(di, target) with ``target`` moved ``shift`` samples earlier (later when negative),
    trimmed to equal length."""
    d, t = (di, target[shift:]) if shift >= 0 else (di[-shift:], target)
    n = min(len(d), len(t))
    return d[:n], t[:n]


def _bla_peak_lag(di: np.ndarray, target: np.ndarray, lag: int, rate_hz: float,
                  start: int = 0) -> int:
    """Where the device's answer peaks (samples of the reamp after the DI): the peak of the
    impulse response of the BLA of the pair moved BLA_SPAN samples before its correlation
    peak ``lag``, over BLA_SECONDS from the DI's sample ``start``; at most BLA_MAX_LEAD
    before ``lag``."""
    d, t = _shifted(di, target, lag - BLA_SPAN)
    d, t = d[start:], t[start:]
    n = int(min(len(d), BLA_SECONDS * rate_hz))
    _, h, _ = linear.bla(d[:n], t[:n], rate_hz)
    peak = lag - BLA_SPAN + int(np.argmax(np.abs(np.fft.irfft(h)[: 2 * BLA_SPAN])))
    return max(peak, lag - BLA_MAX_LEAD)


def _block_power(x: np.ndarray, w: int) -> np.ndarray:
    """Mean square of each whole block of ``w`` samples."""
    n = len(x) // w
    return np.mean(x[: n * w].reshape(n, w) ** 2, axis=1)


ENV_FLOOR_DB = -100.0  # _envelope_db of digital silence


def _envelope_block(rate_hz: float) -> int:
    """Samples in one ENVELOPE_BLOCK_S block."""
    return max(1, int(ENVELOPE_BLOCK_S * rate_hz))


def _envelope_db(x: np.ndarray, rate_hz: float) -> np.ndarray:
    """Loudness envelope: dB of the power in ENVELOPE_BLOCK_S blocks, floored at -100 dB."""
    return 10 * np.log10(_block_power(x, _envelope_block(rate_hz)) + 10 ** (ENV_FLOOR_DB / 10))


def envelope_correlation(d: np.ndarray, t: np.ndarray, rate_hz: float) -> float:
    """Correlation (-1..1) of two aligned signals' loudness envelopes: dB of the RMS in
    ENVELOPE_BLOCK_S blocks, floored 100 dB under full scale. A device's output swells and
    fades with its input whatever it does to the waveform; another take does not."""
    env = [_envelope_db(v, rate_hz) for v in (d, t)]
    if np.std(env[0]) == 0 or np.std(env[1]) == 0:
        return 0.0
    return float(np.corrcoef(env[0], env[1])[0, 1])


# A long pair is fitted on excerpts spread over it: the fitter's memory and time grow with
# the samples (about 58 MB per second of audio), and NAM's standard 190 s reamp took 11 GB and
# 6 minutes (a 10-minute pair was killed for memory); a capture is fitted on 3 s per dataset,
# so 25 s of varied material is plenty (docs/fitting.md).
MAX_FIT_SECONDS = 30.0
EXCERPTS = 6  # of MAX_FIT_SECONDS / EXCERPTS each; the last one is held out for scoring
LEAD_TOLERANCE = 2  # samples the reamp may lead the DI before a swap is suspected


VAL_FRACTION = 0.125  # of the fitting part, at its end: the validation (10 % of a short pair)
# a DC offset is removed from both files (a pedal's input and output are AC-coupled, and the
# model has no DC path); it is noted when its power is at least this fraction of the file's
# own: an interface's -50 dBFS offset added 0.013 to a held-out ESR of 0.0016 (2026-12-05)
DC_NOTE_FRACTION = 1e-4


def remove_dc(x: np.ndarray, label: str, say=lambda s: None) -> np.ndarray:
    """``x`` without its mean, with a note (``label``: the file) when that mean mattered."""
    dc = float(np.mean(x))
    if dc * dc >= DC_NOTE_FRACTION * float(np.mean(x * x)):
        say(f"note: {label}: a DC offset of {dc:+.2g} ({gain_to_db(abs(dc)):.0f} dBFS) is "
            "removed: a pedal's input and output are AC-coupled")
    return x - dc


def _held_out(n: int, rate_hz: float) -> int | None:
    """The fitting part of a pair of ``n`` samples up to MAX_FIT_SECONDS (its first 80 %), or
    None for a longer pair, which is fitted on excerpts (``_excerpt_samples``)."""
    return int(0.8 * n) if n <= MAX_FIT_SECONDS * rate_hz else None


def _excerpt_samples(rate_hz: float) -> int:
    return int(MAX_FIT_SECONDS * rate_hz / EXCERPTS)


QUIET_HISTORY_S = 0.25  # the DI silent this long before a stretch: the device's tail is gone
NOISE_NOTE_ESR = 1e-3  # the reamp's noise, as a share of its (pre-emphasised) power, worth a note


def reamp_noise(d: np.ndarray, t: np.ndarray, rate_hz: float,
                scored: np.ndarray | None = None) -> tuple[float, float] | None:
    """The aligned reamp's noise where the DI is silent (its quietest blocks, below -50 dBFS,
    after QUIET_HISTORY_S of quiet): (noise power / the power of ``scored``, the part of the
    reamp the scores are on, all of ``t`` by default; the same after the 1 - 0.85 z^-1
    pre-emphasis of the scores), the share of each ESR that no model can remove; None when
    the DI has no such stretch. (Silence for a noise measure: long and far below the
    playing; :func:`ringing` listens in shorter gaps, as quiet as the DI's lead-in.)"""
    w = 1024
    n = len(d) // w
    if n < 2:
        return None
    rms = np.sqrt(_block_power(d, w))
    quiet = rms < min(max(2.0 * float(np.percentile(rms, 5)), 1e-4), 10 ** (-50 / 20))
    k = max(1, int(QUIET_HISTORY_S * rate_hz / w))
    run = np.convolve(quiet.astype(int), np.ones(k + 1, int))[: n]  # quiet blocks ending here
    blocks = np.flatnonzero(run == k + 1)
    if len(blocks) == 0:
        return None
    s = t if scored is None else scored
    tp, sp = metrics.pre_emphasise(t), metrics.pre_emphasise(s)
    pick = np.concatenate([np.arange(b * w, (b + 1) * w) for b in blocks])
    return (float(np.mean(t[pick] ** 2) / max(np.mean(s ** 2), 1e-30)),
            float(np.mean(tp[pick] ** 2) / max(np.mean(sp ** 2), 1e-30)))


def probe_span(n: int, rate_hz: float) -> int:
    """How many leading samples of an aligned pair of ``n`` samples are contiguous fitting
    material (``fitting_excerpts``): the probe reads them, not the joined excerpts."""
    cut = _held_out(n, rate_hz)
    if cut is not None:
        return cut
    return min(int(MAX_FIT_SECONDS * rate_hz), n - _excerpt_samples(rate_hz))


def fitting_excerpts(d: np.ndarray, t: np.ndarray, rate_hz: float,
                     say=lambda s: None) -> tuple[np.ndarray, np.ndarray, int]:
    """(DI, reamp, cut): the aligned pair to fit on, samples [0, cut) for fitting and the
    rest held out for scoring. Up to MAX_FIT_SECONDS: the whole pair, its last 20 % held out;
    longer: EXCERPTS equal excerpts spread evenly over it, the last (from its end) held out,
    so that every part of the recording (sweeps, noise, playing) is represented."""
    n = len(d)
    cut = _held_out(n, rate_hz)
    if cut is not None:
        return d, t, cut
    m = _excerpt_samples(rate_hz)
    starts = np.linspace(0, n - m, EXCERPTS).astype(int)
    say(f"the pair is {n / rate_hz:.1f} s: fitting on {EXCERPTS - 1} excerpts of "
        f"{m / rate_hz:.1f} s spread over it, scoring on one more at its end")
    dd = np.concatenate([d[s:s + m] for s in starts])
    tt = np.concatenate([t[s:s + m] for s in starts])
    return dd, tt, (EXCERPTS - 1) * m


def _probe_from_pair(d: np.ndarray, t: np.ndarray, rate_hz: float) -> core.Probe:
    f, h, _ = linear.bla(d, t, rate_hz)
    grid = linear.log_grid(rate_hz)
    mag = linear.smooth_db(f, 20 * np.log10(np.maximum(np.abs(h), 1e-9)), grid)
    rms = float(np.sqrt(np.mean(d ** 2)))
    lin = float(metrics.esr(sps.fftconvolve(d, np.fft.irfft(h)[:2048])[: len(d)], t))
    return core.Probe(rate_hz, float(np.mean(t[: int(0.01 * rate_hz)])),
                      linear.latency_from_bla(h), [rms, rms], grid, [mag, mag],
                      [float(np.mean(mag))] * 2, lin, -200.0,
                      saturating=len(d) >= SLOPE_MIN_SECONDS * rate_hz
                      and level_slope(d, t, rate_hz) <= SATURATING_SLOPE)


def level_slope(d: np.ndarray, t: np.ndarray, rate_hz: float) -> float:
    """How the reamp's level follows the DI's: the slope of the reamp's dB against the DI's
    over ENVELOPE_BLOCK_S blocks within 40 dB of the DI's loudest (1: a linear device; 0: a
    limiter). A pair is probed at the one level it was played at, so this stands in for the
    compression a capture's probe measures over 42 dB of noise levels."""
    ld, lt = (_envelope_db(v, rate_hz) for v in (d, t))
    # where the DI plays, and the reamp was not gated to silence (a gate's blocks would pull
    # the line steep: the HM-2 behind a -40 dBFS gate measured 0.61 without this, 0.14 with)
    active = (ld > ld.max() - 40.0) & (lt > lt.max() - 60.0)
    if np.count_nonzero(active) < 3 or np.ptp(ld[active]) == 0:
        return 1.0
    return float(np.polyfit(ld[active], lt[active], 1)[0])


def level_swing(d: np.ndarray, t: np.ndarray, rate_hz: float) -> float:
    """How far the reamp's loudness swings against the DI's: the ratio of the standard
    deviations of their dB envelopes (ENVELOPE_BLOCK_S blocks) where both are within 40 dB of
    their loudest. Below 1 a device compresses, about 1 it passes the dynamics on; above 1 the
    "reamp" has the wider dynamics, as a DI has against a device's output. Unlike the slope of
    a regression it is symmetric: swapping the pair gives its inverse."""
    ld, lt = (_envelope_db(v, rate_hz) for v in (d, t))
    both = (ld > ld.max() - 40.0) & (lt > lt.max() - 40.0)
    if np.count_nonzero(both) < 3 or np.std(ld[both]) == 0:
        return 1.0
    return float(np.std(lt[both]) / np.std(ld[both]))


# a swapped pair (--input the reamp, --target the DI): a device answers after its input and a
# guitar device narrows or keeps the dynamics of its input. benchmarks/swapped_pairs.py
# (2026-12-06, docs/fitting.md): 66 pairs of the 11 scored captures swing 0.07-1.07 and lag
# by -1..39 samples as recorded; swapped, they swing 1.13-15.1 (the JCM2000 clean 0.93-1.01,
# which only its lead gives away) and lead by the same. A hard -40 dBFS gate after the device
# widened a genuine pair's swing to 1.21, so the refusal asks for more than that (the OD808's
# swapped 20 s pair, 1.13, keeps the warning its lead gives); a gate 20 dB under the peak
# widened the JCM2000 clean's to 2.90, so a swing alone, with no lead, is only a warning
SWAPPED_SWING = 1.25  # refused as swapped with a lead of more than LEAD_TOLERANCE, else warned


def _check_swapped(lag: int, swing: float, names: str, say, rate_hz: float) -> None:
    """Refuse a pair whose reamp both leads its DI and swings wider than it; warn about one
    that does either (a lead can be a recorder's latency compensation overdone, or a
    nonlinear device's lag: a genuine AC15 pair measured -4 samples)."""
    lead = -lag
    if lead > LEAD_TOLERANCE and swing >= SWAPPED_SWING:
        raise FitError(f"{names}: --input and --target look swapped: the reamp comes {lead} "
                       f"samples before the DI and its loudness swings {swing:.2f}x as wide "
                       "(a device answers after its input and keeps or narrows its dynamics); "
                       "give the DI with --input and the device's output with --target (if "
                       "they are right, a noise gate after the device can widen the reamp's "
                       "dynamics: record without it)")
    if lead > 0.01 * rate_hz:  # more than a latency compensation can be off
        say(f"warning: {names}: the reamp comes {lead / rate_hz:.2f} s before the DI: is there "
            "extra silence at the start of the DI file (trim it), or are --input and --target "
            "swapped?")
    elif lead > LEAD_TOLERANCE:
        say(f"warning: {names}: the reamp comes {lead} samples before the DI, which a device "
            "cannot do: are --input and --target swapped (or the recorder's latency "
            "compensation overdone)?")
    elif swing >= SWAPPED_SWING:  # (a DAW's exact latency compensation leaves no lead)
        say(f"warning: {names}: the reamp's loudness swings {swing:.2f}x as wide as the DI's, as a "
            "DI's does against a device's output: are --input and --target swapped (or is "
            "there a noise gate or an expander after the device)?")


# a reverb or delay in the reamp (a capture's probe refuses one, core.TAIL_LIMIT_DB): where the
# DI falls silent (within QUIET_DB of its quiet level) for RING_WINDOW_S[1] after playing, does
# the reamp over RING_WINDOW_S still carry the pitches of the 0.3 s before? The correlation of
# the two spectra's fine structure (dB less its median over 200 Hz, 80 Hz-4 kHz: the
# harmonics' peaks), leaving out the peaks the reamp has before the first note (mains hum,
# which carries no notes). The evaluation DI (four such stops) through the 11 scored captures
# (2026-12-06), medians: dry -0.05..0.07, behind a noise gate (its release lets hiss through,
# 8-74 dB above the reamp's lead-in: no level measure can tell it from a reverb) -0.05..0.07;
# echoes at 250 and 350 ms 0.64-0.96; a 1.5 s reverb 10 dB under the dry signal 0.42-0.88; a
# 0.8 s one 20 dB under 0.12-0.75 (the high-gain amps' hiss masks it). Above RING_TONAL the
# pair is refused when the ringing, hiss included, is within RING_REFUSE_DB of the playing
# before the stop (the echoes -15..-5 dB, the 1.5 s reverb -22..-8), else warned about (the
# 0.8 s one: -38..-26 where it was found; the dry captures' hiss alone -59..-8). A stop where
# the DI itself still carries the notes (RING_DI_TONAL: a note dying at 90 dB/s stays
# harmonic under the broadband noise floor, and a dry device passes that on) does not count.
QUIET_DB = 3.0
PLAYING_DB = 30.0  # over the DI's silence: a note played
RING_WINDOW_S = (0.08, 0.28)
RING_TONAL = 0.3
RING_DI_TONAL = 0.15  # silence against the playing: 0 +- 0.055 (330 bins)
RING_REFUSE_DB = -25.0
LEAD_IN_S = 0.08  # of DI silence before the first note: what silence is, measured there
HUM_PEAK_DB = 6.0  # a lead-in peak this far above its neighbourhood is left out (hum)
_NFFT = 4096


def _silence_db(env_db: np.ndarray) -> float:
    """The level of a DI's silence (dB, of its ``_envelope_db``): its quietest blocks, not
    counting a recorder's digital zeros (5 s of them in front left no gap silent enough to
    listen in)."""
    sound = env_db[env_db > ENV_FLOOR_DB + 1.0]
    return float(np.percentile(sound if len(sound) else env_db, 2))


# a pair is fitted and scored from its first note to its last: a take's silent lead-in made
# the quick fit (on the fitting part's first second) 35x worse, and a silent end, where the
# scores are, had a TS9 pair refused as "device ESR 1.00" (an audit, 2026-12-07). Kept around
# the notes: a little before the first and the last one's decay and the device's tail; an
# edge is cut only when it is longer than EDGE_MIN_S beyond that
EDGE_KEEP_S = (0.1, 0.5)
EDGE_MIN_S = 0.5
# ... when the DI's quietest blocks are silence: this far under its loudest (a take played
# throughout has no edge to cut; guitar dynamics within a take stay well inside it)
SILENCE_BELOW_PEAK_DB = 45.0


def playing_span(d: np.ndarray, rate_hz: float) -> tuple[int, int]:
    """[start, end) in samples of the aligned DI ``d`` from EDGE_KEEP_S[0] before its first
    note (a block PLAYING_DB over its silence) to EDGE_KEEP_S[1] after its last, each edge
    cut only when that leaves out more than EDGE_MIN_S: the whole pair when it does not begin
    or end in silence."""
    ed = _envelope_db(d, rate_hz)
    if len(ed) == 0:
        return 0, len(d)
    floor = _silence_db(ed)
    if float(np.max(ed)) - floor < SILENCE_BELOW_PEAK_DB:
        return 0, len(d)
    played = np.flatnonzero(ed > floor + PLAYING_DB)
    w, least = _envelope_block(rate_hz), EDGE_MIN_S * rate_hz
    start = int(played[0]) * w - int(EDGE_KEEP_S[0] * rate_hz)
    end = (int(played[-1]) + 1) * w + int(EDGE_KEEP_S[1] * rate_hz)
    return (start if start > least else 0), (end if len(d) - end > least else len(d))


# a reamp digitally silent (every ENVELOPE_BLOCK_S block under DEAD_DB) while its DI plays
# within ACTIVE_DB of its loudest for DEAD_MIN_S or more: a take recorded late, or cut short
# and padded with zeros, or a dropout. A device sounds whenever its DI plays that loud (a
# noise gate shuts where the DI is quiet): a late start of 3 s, fitted, scored 0.093 where the
# pair without it scored 0.0014, and a reamp padded from 14 s of 20 read as "ESR 81898" and
# "are they the same take?" after a whole fit (a review, 2026-12-07). The evaluation DI through
# the TS9 and the 5150 behind a hard gate keyed on the DI's 10 ms blocks (2026-12-07): at -60
# and -50 dBFS (the DI's loudest block -18.5) nothing found at 30 dB, at -40 two stretches; at
# 40 dB the -50 gate was found too, at 20 dB a 1 s dropout in a quiet phrase was not
DEAD_DB = -90.0
ACTIVE_DB = 30.0
DEAD_MIN_S = 0.25


def reamp_silent_stretches(d: np.ndarray, t: np.ndarray, rate_hz: float
                           ) -> list[tuple[int, int]]:
    """[start, end) in samples of each stretch of the aligned pair where the reamp ``t`` is
    digitally silent while the DI ``d`` plays (DEAD_DB, ACTIVE_DB, DEAD_MIN_S)."""
    ed, et = _envelope_db(d, rate_hz), _envelope_db(t, rate_hz)
    if len(ed) == 0:
        return []
    dead = np.concatenate([[0], (et < DEAD_DB).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(dead))
    active = ed > float(ed.max()) - ACTIVE_DB
    w = _envelope_block(rate_hz)
    runs = zip(edges[::2], edges[1::2], strict=True)
    return [(int(a) * w, min(int(b) * w, len(d))) for a, b in runs
            if np.count_nonzero(active[a:b]) * ENVELOPE_BLOCK_S >= DEAD_MIN_S]


def _cut_edges(d: np.ndarray, t: np.ndarray, start: int, end: int, rate_hz: float, pair: str,
               say, name: str, why: str, fitted_on: str, left: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """The aligned pair's [start, end), with a note that file ``name`` is silent at the edges
    cut (``why``: what else to say of them; ``fitted_on``: what the rest is, with ``{}`` for its
    seconds); FitError when less than MIN_FITTED_S is left (``left``: what it is)."""
    if (start, end) == (0, len(d)):
        return d, t
    edges = " and ".join(f"its {which} {n / rate_hz:.1f} s" for which, n in
                         (("first", start), ("last", len(d) - end)) if n)
    seconds = max(end - start, 0) / rate_hz
    if seconds < MIN_FITTED_S:
        raise FitError(f"{pair}: {name} is silent for {edges}{why}: only {seconds:.2f} s "
                       f"{left} (need {MIN_FITTED_S:g} s)")
    say(f"note: {name}: silent for {edges}{why}: the pair is "
        + fitted_on.format(f"{seconds:.1f}"))
    return d[start:end], t[start:end]


def _cut_silent_reamp(d: np.ndarray, t: np.ndarray, rate_hz: float, pair: str, reamp: str,
                      say) -> tuple[np.ndarray, np.ndarray]:
    """The aligned pair without the reamp's silent stretches at its start and end
    (:func:`reamp_silent_stretches`), said; a silent stretch within it is warned about."""
    stretches = reamp_silent_stretches(d, t, rate_hz)
    start, end = 0, len(d)
    if stretches and stretches[0][0] == 0:
        start = stretches.pop(0)[1]
    if stretches and stretches[-1][1] >= len(d) - _envelope_block(rate_hz):
        end = stretches.pop()[0]
    for a, b in stretches:
        say(f"warning: {reamp}: silent from {a / rate_hz:.1f} to {b / rate_hz:.1f} s while "
            "the DI plays (a dropout, or a noise gate after the device?): the fit takes that "
            "silence for the device's answer")
    return _cut_edges(d, t, start, end, rate_hz, pair, say, reamp,
                      " while the DI plays (recorded late, or cut short and padded?)",
                      "fitted on the {} s where both sound", "where both sound")


def _db_mean(env_db: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (env_db / 10))))


def _fine_spectrum(x: np.ndarray, rate_hz: float) -> np.ndarray:
    """dB power spectrum less its running median over 200 Hz, 80 Hz..4 kHz: its peaks."""
    f, p = sps.welch(x, rate_hz, nperseg=min(len(x), _NFFT), nfft=_NFFT)
    db = 10 * np.log10(p + 1e-20)
    k = max(3, int(200.0 / f[1]) | 1)
    return (db - median_filter(db, k, mode="nearest"))[(f > 80.0) & (f < 4000.0)]


def _tonal(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> float:
    """Correlation of two fine spectra over the bins ``keep``; NaN when either is flat (a
    window of digital silence: a gate shut)."""
    a, b = a[keep], b[keep]
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def ringing(d: np.ndarray, t: np.ndarray, rate_hz: float) -> tuple[float, float] | None:
    """How the aligned reamp ``t`` rings on after its DI ``d`` falls silent: (how far it
    still carries the pitches played before, -1..1, see RING_TONAL; its level in dB against
    the loudest 10 ms of the 0.3 s before), medians over every stop of RING_WINDOW_S[1] of
    silence after playing; None when the DI has no lead-in of LEAD_IN_S or no such stop."""
    ed, et = _envelope_db(d, rate_hz), _envelope_db(t, rate_hz)
    blk = ENVELOPE_BLOCK_S
    w = _envelope_block(rate_hz)
    floor = _silence_db(ed)
    first = int(np.argmax(ed > floor + PLAYING_DB))  # the first note's block
    if first - 2 < round(LEAD_IN_S / blk):
        return None
    # silence: as quiet as the lead-in, or as the DI's quietest blocks when the lead-in is
    # a recorder's digital zeros (the edges left out: a click, the note's own onset)
    quiet = max(_db_mean(ed[1:first - 1]), floor)
    silent = ed < quiet + QUIET_DB
    # bins of the reamp's peaks before the first note, with the window's skirts (+-2 bins)
    hum = _fine_spectrum(t[w:(first - 1) * w], rate_hz) >= HUM_PEAK_DB
    keep = ~np.convolve(hum, np.ones(5, bool), mode="same")
    a, b, back = (int(round(v / blk)) for v in (*RING_WINDOW_S, 0.3))
    stops = []
    i = first + back
    while i < len(ed) - b:
        played = ed[i - back:i].max() > quiet + PLAYING_DB
        if played and not silent[i - 1] and silent[i:i + b].all():
            before, ring = slice((i - back) * w, i * w), slice((i + a) * w, (i + b) * w)
            still = _tonal(_fine_spectrum(d[before], rate_hz), _fine_spectrum(d[ring], rate_hz),
                           keep)
            tonal = _tonal(_fine_spectrum(t[before], rate_hz), _fine_spectrum(t[ring], rate_hz),
                           keep)
            if not still >= RING_DI_TONAL and np.isfinite(tonal):  # (a flat DI: silent)
                stops.append((tonal, _db_mean(et[i + a:i + b]) - float(et[i - back:i].max())))
            i += b
        else:
            i += 1
    if not stops:
        return None
    return float(np.median([x for x, _ in stops])), float(np.median([y for _, y in stops]))


def _check_ringing(d: np.ndarray, t: np.ndarray, rate_hz: float, name: str, say) -> None:
    """Refuse a reamp that rings on loudly after its DI stops (a reverb or delay, which a block
    model cannot represent), warn about a quieter one (:func:`ringing`)."""
    r = ringing(d, t, rate_hz)
    if r is None or not r[0] >= RING_TONAL:
        return
    what = (f"it keeps sounding the notes {RING_WINDOW_S[0]:g}-{RING_WINDOW_S[1]:g} s after "
            f"the DI stops, {-r[1]:.0f} dB under the playing: a reverb or a delay")
    if r[1] >= RING_REFUSE_DB:
        raise FitError(f"{name}: {what}, which a block model cannot represent; record the "
                       "reamp with it off")
    say(f"warning: {name}: {what}? A block model leaves it out, and the scores count it")


def _pair_long_task(c: core.Candidate, pr: core.Probe, ds: core.Dataset, nfev: int):
    """A long fit that says its iterations with the progress callback the workers inherit
    (``api._FORKED["say"]``: a closure cannot be pickled to them)."""
    from pedaltool.fit import api

    return core.final_fit(c, pr, ds, nfev=nfev, progress=api._FORKED.get("say"))


def pair_fits(structs: list, pr: core.Probe, ds: core.Dataset, nfev: tuple[int, int],
              workers: int, say) -> tuple[list, list, core.Candidate]:
    """(the quick fits of ``structs``, the long fits of the two best, the naive baseline with
    each restart long-fitted), each list best validation first, on pair dataset ``ds``: a
    task graph in ``workers`` processes (``schedule.run_graph``, as a capture's fit), the
    baseline beside the models. ``nfev``: (quick, long) iterations. Each task is a pure
    function, so the result does not depend on ``workers``."""
    from pedaltool.fit import api
    from pedaltool.fit.schedule import Task, run_graph

    q_nfev, f_nfev = nfev
    quick: list = []

    def follow(key, result) -> list:
        if key[0] != "quick":
            return []
        quick.append(result)
        if len(quick) < len(structs):
            return []
        # the two best, as a capture's: which quick fit leads flips with small changes to a pair
        quick.sort(key=api._rank)
        return [Task(("long", i), _pair_long_task, (c, pr, ds, f_nfev), api.LONG)
                for i, c in enumerate(quick[:2])]

    tasks = [Task(("quick", i), api._quick_task, (st, pr, ds, q_nfev), api.QUICK)
             for i, st in enumerate(structs)]
    tasks.append(Task(("base",), core.fit_baseline, (pr, ds, q_nfev, f_nfev, 0, True),
                      api.BESIDE))
    api._FORKED["say"] = say  # (before run_graph forks the workers)
    try:
        done = run_graph(tasks, workers, say, follow)
    finally:
        api._FORKED.pop("say", None)
    finals = sorted((r for k, r in done.items() if k[0] == "long"), key=api._rank)
    return quick, finals, done[("base",)]


def fit_recording(di_path: str | Path, target_path: str | Path, cfg=None):
    """Fit a pedal model from a DI WAV and its reamped WAV. Returns a FitResult whose score is
    on the held-out end of the pair (``fitting_excerpts``)."""
    from pedaltool.audio import at_rate, note_lines, read_wav
    from pedaltool.fit import api

    cfg = cfg or api.FitConfig()
    di_path, target_path = Path(di_path), Path(target_path)
    pair = f"{di_path.name} / {target_path.name}"
    same = (f"{pair}: the same recording twice; --target takes the device's output for the "
            "DI given with --input")
    if same_file(di_path, target_path):  # (a typo: the DI given twice)
        raise FitError(same)
    a, b = read_wav(di_path), read_wav(target_path)
    if int(a.rate_hz) != int(b.rate_hz):
        raise FitError(f"{pair}: sample rates differ ({a.rate_hz:g} and {b.rate_hz:g} Hz): "
                       "export both at one rate")
    t0 = time.time()
    say = cfg.progress or (lambda s: None)
    rate = int(a.rate_hz)
    if rate not in api.SUPPORTED_RATES:  # the pedal runs at a supported rate: resample both
        rate = cfg.rate
        a, b = at_rate(a, rate), at_rate(b, rate)
    elif cfg.rate != rate:
        say(f"note: the recordings are {rate} Hz: the pedal runs at {rate} Hz (--rate "
            "applies to captures)")
    if cfg.rate != rate:
        cfg = api.FitConfig(**{**cfg.__dict__, "rate": rate})
    for path, clip in ((di_path, a), (target_path, b)):
        for line in note_lines(clip.notes, path.name):  # a clipped or resampled file warns
            say(line)
    # a float export too hot, or a DI far too quiet: compare says them too (an audit)
    what = f"{di_path.name}: the DI"
    hot = api.hot_input_note(a.samples, what)
    level_note = (hot + ", so the model is fitted on peaks it will never hear; export the DI "
                  "lower" if hot else api.quiet_input_note(a.samples, what))
    if level_note:
        say(f"warning: {level_note}")
    if np.array_equal(a.samples, b.samples):  # (a copy of it)
        if b.channels > 1:  # (an interface's two inputs in one file, the DI first)
            raise FitError(f"{pair}: the reamp's first channel (of {b.channels}) is the DI "
                           "itself, and --target reads the first channel only: export the "
                           "device's output as a file of its own")
        raise FitError(same)
    peak = peak_dbfs(b.samples)
    if peak > 0.0:  # (a float export: the DI's own note is api.hot_input_note)
        say(f"warning: {target_path.name}: the reamp peaks at {peak:+.1f} dBFS: the pedal's "
            "output stops at full scale, so the model will play its loudest parts clipped, "
            "which the scores may not show; export the reamp lower")
    say("aligning the recordings")
    d, t, lag = align(a.samples, b.samples, rate, pair)
    la, lb = len(a.samples) / rate, len(b.samples) / rate
    say(f"aligned by {lag} samples; {len(d) / rate:.1f} s in common"
        + (f" (the DI is {la:.1f} s, the reamp {lb:.1f} s: the rest is cut)"
           if abs(la - lb) > 0.1 else ""))
    try:
        return _fit_aligned(d, t, lag, rate, cfg, di_path, target_path, b.sha256, t0)
    except PedaltoolError as exc:
        exc.lag_samples = lag  # a failure's report (batch.failure) gives the alignment too
        raise


def _fit_aligned(d: np.ndarray, t: np.ndarray, lag: int, rate: int, cfg, di_path: Path,
                 target_path: Path, target_sha256: str, t0: float):
    """fit_recording once the pair ``d``, ``t`` is aligned (``lag``: ``align``'s);
    ``target_sha256``: the reamp file's, of the bytes read."""
    from pedaltool.fit import api
    from pedaltool.pedal.model import RECORDED_GEAR, SourceInfo

    name, say = target_path.stem, cfg.progress or (lambda s: None)
    pair = f"{di_path.name} / {target_path.name}"
    d, t = _cut_silent_reamp(d, t, rate, pair, target_path.name, say)
    d = remove_dc(d, di_path.name, say)
    t = remove_dc(t, target_path.name, say)
    _check_swapped(lag, level_swing(d, t, rate), pair, say, rate)
    _check_ringing(d, t, rate, target_path.name, say)
    quiet = api.quiet_output_warning(t, f"{target_path.name}: the reamp")
    if quiet:
        say(quiet + "; record it hotter")
    whole_d, whole_t = d, t
    d, t = _cut_edges(d, t, *playing_span(d, rate), rate, pair, say, di_path.name, "",
                      "fitted and scored on the {} s of playing", "of playing")
    span = probe_span(len(d), rate)
    pr = _probe_from_pair(d[:span], t[:span], rate)
    d, t, cut = fitting_excerpts(d, t, rate, say)
    # measured over the whole pair, against the held-out end the scores are on (a quieter
    # end than the pair's mean made the note 5x too small: a hiss-bound score read as the
    # model's fault, an audit found)
    noise = reamp_noise(whole_d, whole_t, rate, scored=t[cut:])
    if noise is not None and max(noise) >= NOISE_NOTE_ESR:
        say(f"note: {target_path.name}: its noise where the DI is silent is {noise[0]:.1e} of "
            f"the power of its held-out end ({noise[1]:.1e} pre-emphasised): the scores there "
            "count it as error that no model removes (the log-spectral distance most)")
    # a purely linear pair is refused as a capture is
    core.check_fittable(pr, pair, "the device")
    v = int(cut * (1.0 - VAL_FRACTION))
    ds = core.Dataset(d[:v], t[:v], d[v:cut], t[v:cut])
    saturating = core.is_saturating(pr)
    say(f"{'driven into saturation' if saturating else 'not saturating'} (the reamp's level "
        "against the DI's)")
    structs = api.structures_for(cfg, pr, name, say)
    say("fitting the naive baseline (biquad + tanh + biquad) beside them")
    nfev = api._nfev(cfg, pr)
    quick, finals, base = pair_fits(structs, pr, ds, nfev, api.fit_workers(cfg), say)
    # the reamp's hash: a second pair whose reamp has the same name (REAMP.wav) is then told
    # apart when its model replaces the first's in the bank (api.write_result says so)
    # (of the bytes read at the start: a reamp gone or replaced by then failed the fit or
    # gave the wrong hash, an audit)
    src = SourceInfo(target_path.name, target_sha256, RECORDED_GEAR, "")
    # as for a capture (api.fit_oracle): the best validation that passes the sanity check is
    # written, with the widest knob ranges that pass; the naive structure is a finalist
    finals = api.with_polished(finals, base, lambda c: ds, say)
    say("quantising and scoring device-exact")
    # (a structure one section larger, fitted in this process: its long fits say their
    # iterations, as pair_fits's)
    chosen, grown_quick, grown = api.choose_written(
        finals, base, cfg, pr, lambda c: ds, nfev, name, src, say,
        long_task=lambda c, pr, ds, n: core.final_fit(c, pr, ds, nfev=n, progress=say))
    cands = api.candidate_rows(quick + grown_quick, finals + grown, base, cfg.arch, chosen,
                               seeded=False)
    x_ev, target = d[cut:], metrics.Target(t[cut:])
    score, fscore, dev_vs_float, cycles, dev = api.score_written(
        chosen, x_ev, target, cfg.arch, effort=cfg.effort)
    bscore = api.baseline_device_score(base.model, x_ev, target, name)
    fields = chosen.result_fields()
    say(f"done: {fields['structure']}, device ESR {score.esr:.4f} (pre {score.esr_pre:.4f})")
    fields["structure_notes"] += (f"; aligned by {lag} samples, scored on the held-out end of "
                                  "the recording")
    return api.FitResult(
        **fields, eval_x=x_ev, eval_y=t[cut:], eval_device=dev,
        name=name, source_path=str(target_path), rate=rate, cycles=cycles, budget=cfg.budget,
        arch=cfg.arch, score=score, float_score=fscore, baseline=bscore, baseline_float=None,
        seconds=time.time() - t0, latency=pr.latency, candidates=cands, effort=cfg.effort,
        device_vs_float_esr=dev_vs_float, saturating=saturating,
        recording={"di": str(di_path), "reamp": str(target_path), "lag_samples": lag})

