"""benchmarks/bench_fit.py's verdicts: the issue's targets, read off a fit's report."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench_fit = pytest.importorskip("bench_fit")


def _report(esr, baseline, dev_float=1e-6, idle=-120.0, wall=10.0, name="tim_r_ts9"):
    return {"name": name, "structure": "wh-3/7", "cycles_per_sample": 1175.0,
            "device": {"esr": esr, "esr_pre": 2 * esr, "lsd_db": 1.0},
            "baseline": {"esr": baseline}, "improvement_vs_baseline": baseline / esr,
            "sane": True, "wall_s": wall, "cpu_s": 2 * wall,
            "quantisation": {"esr_vs_float": dev_float, "idle_dbfs": idle}}


@pytest.mark.parametrize("kw,verdict", [
    ({"esr": 0.005, "baseline": 0.05}, "ESR ok, 5x ok"),
    ({"esr": 0.011, "baseline": 0.1}, "ESR NOT MET, 5x ok"),
    ({"esr": 0.005, "baseline": 0.02}, "ESR ok, 5x NOT MET"),
    ({"esr": 0.005, "baseline": 0.05, "dev_float": 2e-5}, "ESR ok, 5x ok, QUANTISATION NOT MET"),
    ({"esr": 0.005, "baseline": 0.05, "idle": -80.0}, "ESR ok, 5x ok, QUANTISATION NOT MET"),
    ({"esr": 0.005, "baseline": 0.05, "wall": 31.0}, "ESR ok, 5x ok, TIME NOT MET"),
    ({"esr": 0.09, "baseline": 0.5, "name": "core_wavenet_a1_standard"}, "ESR ok, 5x ok"),
    ({"esr": 0.9, "baseline": 0.9, "name": "core_wavenet", "wall": 40.0}, "pass (no crash)"),
])
def test_each_target_of_the_issue_has_its_verdict(kw, verdict):
    row = bench_fit.row(_report(**kw))
    assert row[-2] == verdict
    assert row[8] == f"{kw['baseline']:.4f}"  # the naive baseline side by side


def test_the_scored_set_is_the_issue_s_eleven_captures_with_their_targets():
    t = bench_fit.TARGETS
    assert len(t) == 11 and all((t[n][1] == 0.01) == (t[n][0] == "pedal") for n in t)
    assert t["core_wavenet_a1_standard"] == ("high gain", 0.10)
    assert t["phillipe_p_bugera333_crunch_cab"] == ("amp+cab", 0.05)
    assert sum(v[1] == 0.02 for v in t.values()) == 3


def test_the_draws_table_counts_every_target_over_the_draws():
    """--draws: per capture, in how many draws each target is met, the arithmetic contract's
    two included (one draw of the Splawn idled at -69 dBFS where the others met -90)."""
    draws = [(0, [_report(0.09, 0.5, name="tim_r_splawn_promod_gear2_g12")]),
             (1, [_report(0.11, 0.6, dev_float=2e-5, idle=-68.7,
                          name="tim_r_splawn_promod_gear2_g12")])]
    header, rows = bench_fit.spread_rows(draws)
    assert header[-4:] == ("ESR met", "5x met", "dev/float met", "idle met")
    assert rows == [("tim_r_splawn_promod_gear2_g12", "0.1", "0.0900", "0.1100", "1.22x",
                     "1 of 2", "2 of 2", "1 of 2", "1 of 2")]
