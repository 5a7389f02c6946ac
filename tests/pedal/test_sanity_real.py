"""The sanity check on real fitted models (fitter output of 2026-11-25, default FitConfig,
serialised with ``fileformat.to_bytes`` before any knob narrowing): what the old fixed
-60 dBFS / 0.4-0.6 s criterion refused and why that was not danger, and that the same models
made dangerous are still refused.

- JCM2000 crunch (wh2, drive +-12 dB, level +-18 dB): at its fitted point the first pre-EQ
  section wanders over +-1 LSB in silence and two steep tables lift that to -57 dBFS: the
  level this model plays anyway on a -95 dBFS input floor.
- TS9 (wh+mix, +-12 / +-18 dB): idle hiss -65 dBFS at the fitted point, -33 dBFS with drive
  and level at max: its own hiss on a real input floor, scaled by the knobs.
- diode_clipper.nam naive baseline (pre biquad with poles at 0.9998, tanh table, post biquad
  that passes DC): after a full-scale 80 Hz square the pre-EQ's near-DC tail holds the table
  in saturation, a subsonic offset that decays from -19 dBFS (0.5 s) to -50 dBFS (0.9 s) at
  the fitted point; at drive +12 / level +18 it holds -14 dBFS after a second, gone by 4 s.
"""

import base64

import numpy as np
import pytest
from pedaltool.errors import PedalFormatError
from pedaltool.pedal import sanity_check
from pedaltool.pedal.fileformat import from_bytes
from pedaltool.pedal.quantise import QStage, QuantisedPedal
from pedaltool.pedal.sanity import (
    MAX_IDLE_DBFS,
    MAX_TAIL_DBFS,
    MAX_TAIL_DC_DBFS,
    TAIL_MARGIN_DB,
    full_scale_input,
    tail_report,
)
from pedaltool.pedal.simulate import simulate

KNOBS_MAX = {"drive": 1.0, "tone": 1.0, "level": 1.0}

JCM2000_CRUNCH = (
    "UERMMQEAGAB2AwAAgLsAABIAAAAAAAAACAABAAAAAAAGAAAAAgAHAAAAAAA9W1sDw6Sk/AAAAABhZQb8AAAAAP7/"
    "//8BAAAAAgAHAAAAAAAOzf0DTZAE+FWj/QO+JwX48tj6A/7///8BAAAAAgAHAAAAAAAAgAADAMA/AwDAWgIAgFED"
    "AIB4AQAAAAAAAAAAAgAHAAAAAABeJeUC4M8c/u+pNv97GaT7dqreAP////8AAAAAAwEGABEAAAAEAAAAzzsAABEA"
    "AAAACAAAB/j///kHAAClybfKOM4M1R7QDsFA1NjcHQA6KCJM8mXpbHw56ic1IcgdAgAHAAAAAACh1T8DGkyE+aLe"
    "OwPEWwj4r6T3A/7///8BAAAAAgAHAAAAAABQ5doDu+1O+GQt1gPClgj4sWn3A/7///8BAAAAAwAGAEEAAAAGAAAA"
    "2sAAABEAAAAAIAAAAAAAAAAAAABan9WfqaARokqkqqeYrEizH7uCweC/CLXdoEiveK/Fr0+l6K8Rr4evp7JBtY+s"
    "t67ZrnCv3rDnr9m06bT7uaLZUQJGI7A1vke4UZRXfVupX51hV2FwYi5ir2ZCX+NfjF83ZC9ktGGoZyJosGXUY0ls"
    "5V3RZTNzfWrjbJ9vJE3SVHxlAgAHAAAAAACYny8C0MCg+5ifLwKcDA/4mwPxA/7///8BAAAAAgAHAAAAAAAAABoE"
    "AMAsAAAAoQEAwCwAAIC6AQAAAAABAAAAAgAHAAAAAADL/T0ErZBA+EMwjgO4GvD4QYMbA/7///8BAAAAAgAHAAAA"
    "AAA7r8sDtClp+H4nywOjwwX40Dz6A/7///8BAAAAAgAHAAAAAAAAAAUEAIAlAgAAAAMAQCYCAIAHAwAAAAABAAAA"
    "AgAHAAAAAAC6akQD3g2J+V2IMgPc2QD4Uyf/A/7///8BAAAAAgAHAAAAAAAAgIoCAMAUBQCAigIAwOUEAMBDAQEA"
    "AAAAAAAABwIDAAAAAAC6DAAABPz///wDAAABAwQAAAAAAKkNAAAMAAAAC/T///ULAAAIAAEAFAB0aW1fcl9qY20y"
    "MDAwX2NydW5jaAIAGAB0aW1fcl9qY20yMDAwX2NydW5jaC5uYW0DABAAZDY4N2M1ODI5YWUyNDZhMwQAAAAFAAAA"
    "BgAEAAAAwH8HAAQAAADAfwgABAAAAMB/iJiVYg=="
)

TS9 = (
    "UERMMQEAGAA+AwAAgLsAABMAAAAAAAAACAABAAAAAAAFAAAABQABAAAAAAAAAAAAAgAHAAAAAAB1rnYDi1GJ/AAA"
    "AAAoQ0j8AAAAAAIAAAABAAAAAgAHAAAAAAACYf8DX8oJ+O3V9gNbDBL48vTtAwAAAAD/////AgAHAAAAAADB4CAE"
    "+fhNATPEQf1MmHgG/iHfAgIAAAABAAAAAgAHAAAAAAAWWIYAwrDDALIQSgCvjW4HqjXqAwIAAAABAAAAAwEGAEEA"
    "AAAGAAAATTAAAAkAAAAAIAAAB/j///kHAACj85zzkPN981/zNPP68q3ySvLM8S/xb/CJ733uTO3464Pq6ugi5zbl"
    "puN75DboU+Z55/rooeqJ62brnux97x/yAABBDU0QexLSEx4UYhQOGAUYUxmZGrIbthyvHZgeaB8WIJ4gACE+IV8h"
    "aCFeIUghKSEGIeIgwSCjIIsgeSBtIGcgBgADAAAAAAAAAAAAzFEAAA8AAAACAAcAAAAAAFR/WANYAU/5VH9YA6FL"
    "AvjStP0D/v///wEAAAACAAcAAAAAAFp94gJxzAb7LBkgAsWCvPi4MlED/v///wEAAAACAAcAAAAAALVx9QH+YVf8"
    "NFyzAW46Kfg0LNcD/v///wEAAAACAAcAAAAAADVc+QPUp5/4IxpwA1gKj/hdKHoD/v///wEAAAACAAcAAAAAAPcZ"
    "jQMQ1aUDKHhbAK64pQO2c+j//v///wEAAAACAAcAAAAAAPKTpQYFUPEBBhuA/Et68gE0kif//v///wEAAAACAAcA"
    "AAAAABhDQQMhnaH96LUyA6+ZoP3Qu3YC/////wAAAAACAAcAAAAAAOrcqQNiBaT6QE5fAkp3q/qryAAC/v///wEA"
    "AAACAAcAAAAAAAPxJQAI4ksAA/ElAIDAQ/o0blQC/////wAAAAAHAgMAAAAAALoMAAAE/P///AMAAAEDBAAAAAAA"
    "SgwAAAwAAAAL9P//9QsAAAgAAQAJAHRpbV9yX3RzOQIADQB0aW1fcl90czkubmFtAwAQADgyN2ZkYWY0OWI2MzZi"
    "ZjgEAAAABQAAAAYABAAAAMB/BwAEAAAAwH8IAAQAAADAf6e6pm4="
)

DIODE_CLIPPER_BASELINE = (
    "UERMMQEAGACoAQAAgLsAAAYAAAAAAAAACAABAAAAAAABAAAAAgAHAAAAAAAmIngD6hQV+TvMcgP8CEf4sfq4A/7/"
    "//8BAAAAAwEGAEEAAAAGAAAA6DoAAAsAAAAAIAAAB/j///kHAADNjOuMD407jXCNr437jVeOxY5Kj+mPqJCMkZ2S"
    "45NolTWXWJnem9WeTqJYpgSrX7B4tlW9+sRjzYPWReCL6i71AADSCnUVux99KZ0yBjurQohJoU/8VKhZsl0rYSJk"
    "qGbLaJhqHWxjbXRuWG8XcLZwO3GpcQVyUXKQcsVy8XIVczNzAgAHAAAAAAC5xsUDwyJ8+G4avgNyfgj4tIX3A/7/"
    "//8BAAAABwIDAAAAAAC6DAAABPz///wDAAABAwQAAAAAAN8MAAAOAAAAC/T///ULAAAIAAEADQBkaW9kZV9jbGlw"
    "cGVyAgARAGRpb2RlX2NsaXBwZXIubmFtAwAQADFiY2IxN2U3MjM2MTU4ZDUEAAUAcGVkYWwFAAkAb3ZlcmRyaXZl"
    "BgAEAAAAwH8HAAQAAADAfwgABAAAAMB/Gb4Gbg=="
)

DIODE_CLIPPER_BASELINE_6DB = (
    "UERMMQEAGACoAQAAgLsAAAYAAAAAAAAACAABAAAAAAABAAAAAgAHAAAAAAAmIngD6hQV+TvMcgP8CEf4sfq4A/7/"
    "//8BAAAAAwEGAEEAAAAGAAAA0HUAAAwAAAAAIAAABPz///wDAADNjOuMD407jXCNr437jVeOxY5Kj+mPqJCMkZ2S"
    "45NolTWXWJnem9WeTqJYpgSrX7B4tlW9+sRjzYPWReCL6i71AADSCnUVux99KZ0yBjurQohJoU/8VKhZsl0rYSJk"
    "qGbLaJhqHWxjbXRuWG8XcLZwO3GpcQVyUXKQcsVy8XIVczNzAgAHAAAAAAC5xsUDwyJ8+G4avgNyfgj4tIX3A/7/"
    "//8BAAAABwIDAAAAAAC6DAAABPz///wDAAABAwQAAAAAAH0zAAAQAAAABPz///wDAAAIAAEADQBkaW9kZV9jbGlw"
    "cGVyAgARAGRpb2RlX2NsaXBwZXIubmFtAwAQADFiY2IxN2U3MjM2MTU4ZDUEAAUAcGVkYWwFAAkAb3ZlcmRyaXZl"
    "BgAEAAAAwH8HAAQAAADAfwgABAAAAMB/n/HbOA=="
)


def _load(blob: tuple[str, ...], name: str) -> QuantisedPedal:
    qp = from_bytes(base64.b64decode("".join(blob)), name + ".pedal")
    qp.name = name
    return qp


def _with_stage(qp: QuantisedPedal, stage: QStage, name: str, first: bool = False
                ) -> QuantisedPedal:
    stages = [stage] + list(qp.stages) if first else list(qp.stages) + [stage]
    return QuantisedPedal(stages, qp.sample_rate, name)


def test_jcm_crunch_idle_limit_cycle_is_its_own_hiss_and_passes():
    qp = _load(JCM2000_CRUNCH, "jcm")
    r = tail_report(qp)
    assert r.audible_late > MAX_TAIL_DBFS  # what the old criterion refused (no file at all)
    assert r.audible_late <= r.idle_ref + TAIL_MARGIN_DB
    sanity_check(qp)  # at its widest knob ranges


def test_jcm_crunch_with_an_extra_whine_is_refused():
    """The same model behind a resonator (no error feedback) that sustains a 1 kHz limit cycle
    once the input stops: a whine far louder than anything the model makes of a real input
    floor (the resonator passes none of it)."""
    w = 2 * np.pi * 1000 / 48000
    r = 0.9999
    whine = QStage("biquad", None, (round(1e-4 * 2**26), 0, 0, round(-2 * r * np.cos(w) * 2**26),
                                    round(r * r * 2**26), 0, 0))
    qp = _with_stage(_load(JCM2000_CRUNCH, "jcm"), whine, "jcm+whine", first=True)
    with pytest.raises(PedalFormatError, match="jcm\\+whine: output does not decay"):
        sanity_check(qp)


def test_ts9_hiss_scales_with_the_knobs_and_passes_at_the_widest_ranges():
    qp = _load(TS9, "ts9")
    at_fit, at_max = tail_report(qp), tail_report(qp, KNOBS_MAX)
    assert at_max.audible_late > -40.0 > MAX_TAIL_DBFS  # old: TS9 drive knob only +-1.5 dB
    assert at_max.audible_late - at_fit.audible_late > 25.0  # +12 dB drive, +18 dB level
    assert at_max.audible_late <= at_max.idle_ref + TAIL_MARGIN_DB
    sanity_check(qp)


def test_ts9_with_12_db_more_gain_exceeds_the_idle_ceiling():
    qp = _with_stage(_load(TS9, "ts9"), QStage("gain", None, (16345, 12, 0, 0)), "ts9+12")
    r = tail_report(qp, KNOBS_MAX)
    assert r.audible_late > MAX_IDLE_DBFS
    with pytest.raises(PedalFormatError, match=r"ts9\+12: output does not decay .*limit -30\.0"):
        sanity_check(qp)


def test_diode_baseline_decaying_subsonic_tail_passes_at_the_fitted_point():
    qp = _load(DIODE_CLIPPER_BASELINE_6DB, "diode")
    r = tail_report(qp)
    assert r.subsonic_early > MAX_TAIL_DC_DBFS > r.subsonic_late  # decays below the limit
    assert r.subsonic_at_s == 1.0 and r.audible_late < MAX_TAIL_DBFS
    # the old criterion read the decaying offset's slope as "AC" above -60 dBFS: refused
    y = simulate(qp, np.concatenate([full_scale_input(48000), np.zeros(48000, np.int16)]))
    tail = y[-int(0.6 * 48000):-int(0.4 * 48000)].astype(np.float64)
    assert 20 * np.log10(np.std(tail) / 32768) > MAX_TAIL_DBFS
    # at drive +6 dB the audible tail rises through the table's steep part after 1 s:
    # followed to 4 s and judged there
    assert tail_report(qp, KNOBS_MAX).audible_at_s == 4.0
    sanity_check(qp)


def test_diode_baseline_settling_dc_at_drive_12_level_18_passes():
    """With drive +12 dB, level +18 dB and tone at min the same tail holds -14 dBFS of DC a
    second after the input stops; it settles below -30 dBFS by 4 s: accepted."""
    qp = _load(DIODE_CLIPPER_BASELINE, "diode")
    r = tail_report(qp, {"drive": 1.0, "tone": 0.0, "level": 1.0})
    assert r.subsonic_at_s == 4.0 and r.subsonic_late <= MAX_TAIL_DC_DBFS
    sanity_check(qp)


def test_diode_baseline_with_a_standing_offset_is_refused():
    """The same model with its table shifted up by 0.25 of full scale rests off zero in
    silence and the post-EQ passes DC: a standing offset, refused."""
    qp = _load(DIODE_CLIPPER_BASELINE, "diode")
    stages = [QStage(st.kind, st.knob, st.p, np.clip(st.table.astype(np.int32) + 8192, -32768,
                                                      32767).astype(np.int16))
              if st.kind == "table" else st for st in qp.stages]
    with pytest.raises(PedalFormatError, match="diode: output sits at a DC offset .* after 4 s"):
        sanity_check(QuantisedPedal(stages, 48000, "diode"))
