"""The safety gate before any .pedal is written: never ship a file that could blast noise."""

from __future__ import annotations

import numpy as np

from pedaltool.errors import PedalFormatError
from pedaltool.pedal.quantise import QuantisedPedal, check_quantised

MAX_TAIL_DBFS = -60.0  # AC output allowed once a full-scale input has stopped (after 0.4 s)
MAX_TAIL_DC_DBFS = -30.0  # DC offset allowed in silence (a table resting slightly off zero)
MAX_SMALL_SIGNAL_GAIN_DB = 66.0  # chain gain on a -72 dBFS 440 Hz sine (no fit needs more)


def _dbfs(y: np.ndarray) -> float:
    r = float(np.sqrt(np.mean((np.asarray(y, np.float64) / 32768.0) ** 2))) if len(y) else 0.0
    return 20 * np.log10(max(r, 1e-12))


def sanity_check(qp: QuantisedPedal) -> None:
    """Raise PedalFormatError(reason) unless qp is finite, stable, of bounded gain and decays to
    silence after a full-scale input (no self-oscillation, limit cycle or DC drift)."""
    from pedaltool.pedal.simulate import simulate

    name = qp.name or "pedal"
    why = check_quantised(qp)
    if why:
        raise PedalFormatError(f"{name}: {why}")
    for st in qp.stages:
        if st.kind in ("biquad", "dcblock"):
            a1, a2 = st.p[3] / 2**26, st.p[4] / 2**26
            r = np.abs(np.roots([1.0, a1, a2]))
            if np.any(r >= 0.99999):
                raise PedalFormatError(f"{name}: biquad pole too close to the unit circle")
        if st.table is not None and not np.all(np.isfinite(st.table)):
            raise PedalFormatError(f"{name}: table not finite")
    rate = int(qp.sample_rate)
    rng = np.random.default_rng(1234)
    n_loud = int(0.25 * rate)
    t = np.arange(n_loud) / rate
    loud = np.concatenate([
        np.clip(rng.normal(0, 0.5, n_loud), -1, 1),
        np.sin(2 * np.pi * (30 * t + (rate / 4 - 30) / (2 * 0.25) * t * t)),  # 30 Hz..fs/4 chirp
        np.sign(np.sin(2 * np.pi * 80 * t)) * 0.999,
    ])
    x = np.concatenate([loud, np.zeros(int(0.6 * rate))])
    xi = np.clip(np.rint(x * 32767), -32768, 32767).astype(np.int16)
    for knobs in (None, {"drive": 1.0, "tone": 1.0, "level": 1.0},
                  {"drive": 0.0, "tone": 0.0, "level": 0.0}):
        y = simulate(qp, xi, knobs)
        tail = y[-int(0.2 * rate):].astype(np.float64)
        dc = float(np.mean(tail))
        lvl = _dbfs(tail - dc)
        dc_db = 20 * np.log10(max(abs(dc) / 32768.0, 1e-12))
        if lvl > MAX_TAIL_DBFS:
            raise PedalFormatError(f"{name}: output does not decay after a loud input "
                                   f"({lvl:.1f} dBFS in silence, knobs={knobs})")
        if dc_db > MAX_TAIL_DC_DBFS:
            raise PedalFormatError(f"{name}: output sits at a DC offset of {dc_db:.1f} dBFS in "
                                   f"silence (add a dcblock stage), knobs={knobs}")
    small = np.rint(np.sin(2 * np.pi * 440 * np.arange(rate // 4) / rate) * 8.24).astype(np.int16)
    g = _dbfs(simulate(qp, small)[rate // 8:]) - _dbfs(small)
    if g > MAX_SMALL_SIGNAL_GAIN_DB:
        raise PedalFormatError(f"{name}: small-signal gain {g:.1f} dB exceeds "
                               f"{MAX_SMALL_SIGNAL_GAIN_DB:.0f} dB")
