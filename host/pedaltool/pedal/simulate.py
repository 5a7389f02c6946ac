"""The bit-exact host engine: what the firmware outputs, sample for sample.

Two implementations of the same integer arithmetic:
- ``engine='reference'``: the firmware's own ``pedalcore.engine`` with the pure-Python
  ``pedalcore.arith`` kernels, run under CPython (slow, the definition);
- ``engine='fast'`` (default): numba kernels in :mod:`pedaltool.pedal._fast`, tested
  bit-identical to the reference.

Knobs (dict drive/tone/level in 0..1, None = fitted point) are applied before the first sample
(no ramp), like ``Engine.set_knob(..., immediate=True)`` on the device.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

import numpy as np

from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.fileformat import to_bytes
from pedaltool.pedal.quantise import QuantisedPedal

DEFAULT_BLOCK = 64


def knob_positions(knobs: dict | None) -> dict:
    """0..1 knob values -> integer positions 0..1023 (None stays None = fitted point)."""
    arith = fw_module("arith")
    out = {"drive": None, "tone": None, "level": None}
    for k, v in (knobs or {}).items():
        if k not in out:
            raise ValueError(f"unknown knob {k!r} (drive, tone, level)")
        out[k] = None if v is None else arith.knob_to_int(float(v))
    return out


def _as_int16(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.int16:
        if np.issubdtype(x.dtype, np.integer):
            if x.size and (x.min() < -32768 or x.max() > 32767):
                raise ValueError("samples outside int16")
        else:
            raise ValueError("simulate() takes int16 samples; use simulate_device_float")
    return x.astype(np.int16).ravel()


def firmware_pedal(qp: QuantisedPedal):
    """The firmware's parsed representation (pedalfile.Pedal) of qp, via the file bytes."""
    return fw_module("pedalfile").parse(to_bytes(qp), qp.name or "pedal")


def simulate_reference(qp: QuantisedPedal, x_int16, knobs: dict | None = None,
                       block: int = DEFAULT_BLOCK, gate_dbfs: float | None = None,
                       schedule: list | None = None, prewarm: bool = False) -> np.ndarray:
    """Run the firmware engine (pure-Python kernels) under CPython. Slow: ~1 s per 10^5 samples
    per 10 stages. ``schedule``: [(block index, knob name, 0..1 value or None)] knob moves,
    applied (ramped over that block) before the block is processed."""
    eng_mod = fw_module("engine")
    eng_mod.use_kernels("python")
    x = _as_int16(x_int16)
    eng = eng_mod.Engine(firmware_pedal(qp), block)
    for k, v in knob_positions(knobs).items():
        eng.set_knob(k, v, True)
    eng.set_gate(gate_dbfs)
    if prewarm:
        eng.prewarm()
    n = len(x)
    nb = -(-n // block)
    buf = array("h", bytes(2 * block))
    out = np.zeros(nb * block, np.int16)
    xp = np.zeros(nb * block, np.int16)
    xp[:n] = x
    moves: dict = {}
    for bi, name, val in schedule or []:
        moves.setdefault(int(bi), []).append((name, val))
    for b in range(nb):
        for name, val in moves.get(b, []):
            eng.set_knob(name, knob_positions({name: val})[name])
        buf[:] = array("h", xp[b * block:(b + 1) * block].tobytes())
        eng.process(buf)
        out[b * block:(b + 1) * block] = np.frombuffer(buf, np.int16)
    return out[:n]


def simulate(qp: QuantisedPedal, x_int16, knobs: dict | None = None, engine: str = "fast",
             block: int = DEFAULT_BLOCK, gate_dbfs: float | None = None,
             progress: Callable[[float], None] | None = None,
             prewarm: bool = False) -> np.ndarray:
    """int16 in -> int16 out, bit-exact with the firmware. engine: 'fast' | 'reference'.

    x_int16: int16 samples (any integer dtype within int16 is accepted); knobs: drive/tone/level
    in 0..1, None = the fitted point; block: the engine's block size (a power of two; the output
    does not depend on it unless knobs move); gate_dbfs: noise gate threshold, None = off;
    progress: called with the fraction done (0..1) as the work goes (the fast engine: before
    each stage, over each chunk of ``_fast.CHUNK`` samples); prewarm: start as the pedal does after
    loading a model (``Engine.prewarm``: the chain run on silence first), not from zeros."""
    if engine == "reference":
        return simulate_reference(qp, x_int16, knobs, block, gate_dbfs, prewarm=prewarm)
    try:
        from pedaltool.pedal import _fast
    except ImportError:  # pragma: no cover - numba missing: same samples, only slower
        return simulate_reference(qp, x_int16, knobs, block, gate_dbfs, prewarm=prewarm)

    return _fast.simulate_fast(qp, _as_int16(x_int16), knob_positions(knobs), block, gate_dbfs,
                               progress, prewarm)


def float_to_int16(x) -> np.ndarray:
    """Full-scale float -> int16 Q15 (np.rint, half to even, then saturate); in pieces of
    ``_CONVERT_CHUNK`` samples: at once, a 60-minute input took 4 GB of float64 temporaries."""
    x = np.asarray(x)
    flat = x.reshape(-1)
    out = np.empty(flat.size, np.int16)
    for i in range(0, flat.size, _CONVERT_CHUNK):
        part = np.rint(np.asarray(flat[i:i + _CONVERT_CHUNK], np.float64) * 32768.0)
        out[i:i + _CONVERT_CHUNK] = np.clip(part, -32768, 32767)
    return out.reshape(x.shape)


_CONVERT_CHUNK = 1 << 20


def simulate_device_float(qp: QuantisedPedal, x_float, knobs: dict | None = None,
                          prewarm: bool = False) -> np.ndarray:
    """Float in (full scale 1.0) -> int16 device path -> float64 out. For the fitter's scoring
    (from zeros, as its float model; ``prewarm``: as the pedal plays it, see simulate)."""
    return simulate(qp, float_to_int16(x_float), knobs,
                    prewarm=prewarm).astype(np.float64) / 32768.0


AUDIO_BAND_TOP_HZ = 20000.0  # a noise floor's band is AUDIBLE_HZ..this (AES17)
EXACT_SILENCE_DBFS = -240.0  # what an all-zero tail reads (the tables' "exact silence")


def _idle_silence(qp: QuantisedPedal, loud: np.ndarray, silence_s: float) -> np.ndarray:
    """The device's output (float, full scale 1.0) over ``silence_s`` of zeros after ``loud``
    (float, full scale 1.0), at the fitted knobs."""
    rate = qp.sample_rate
    n = int(silence_s * rate)
    x = np.concatenate([float_to_int16(loud), np.zeros(n, np.int16)])
    return simulate(qp, x)[len(x) - n:].astype(np.float64) / 32768.0


def _idle_dbfs(tail: np.ndarray) -> float:
    from pedaltool.audio import rms_dbfs

    return max(rms_dbfs(tail), EXACT_SILENCE_DBFS)


def idle_tail_dbfs(qp: QuantisedPedal, loud: np.ndarray, silence_s: float = 2.0,
                   measure_s: float = 1.0) -> float:
    """RMS (incl. DC) in dBFS of the device's last ``measure_s`` of ``silence_s`` zeros after
    ``loud`` (float, full scale 1.0): the arithmetic contract's idle floor."""
    return _idle_dbfs(_idle_silence(qp, loud, silence_s)[-int(measure_s * qp.sample_rate):])


def idle_tail_levels_dbfs(qp: QuantisedPedal, loud: np.ndarray, silence_s: float = 2.0,
                          measure_s: float = 1.0) -> tuple[float, float]:
    """(:func:`idle_tail_dbfs`, the same tail's RMS within AUDIBLE_HZ..AUDIO_BAND_TOP_HZ),
    from one simulation. The band leaves out the DC and the sub-audio wander of a near-DC
    section's residue (docs/arithmetic.md "Idle after a clipping input"), which the
    contract's figure keeps."""
    from scipy.signal import butter, sosfiltfilt

    from pedaltool.pedal.sanity import AUDIBLE_HZ

    rate = qp.sample_rate
    silence = _idle_silence(qp, loud, silence_s)
    n = int(measure_s * rate)
    sos = butter(4, [AUDIBLE_HZ, min(AUDIO_BAND_TOP_HZ, 0.45 * rate)], "bandpass", fs=rate,
                 output="sos")
    # filtered over the whole silence, both ways: the measured second has no filter start-up
    return _idle_dbfs(silence[-n:]), _idle_dbfs(sosfiltfilt(sos, silence)[-n:])
