"""The firmware cost model (pedaltool.pedal.cost): its data is fresh and its sums add up."""

import struct

import pytest
from pedaltool import mpy
from pedaltool.paths import firmware_dir
from pedaltool.pedal import cost
from pedaltool.pedal.model import BiquadStage, GainStage, PedalModel, TableStage

CHAIN = ["gain"] + ["biquad"] * 4 + ["table"] + ["biquad"] * 4 + ["gain"]


def test_budget_default_is_half_an_rp2040_at_48k():
    assert cost.budget_default() == pytest.approx(0.5 * 125e6 / 48000)
    assert cost.budget_default(32000) == pytest.approx(0.5 * 125e6 / 32000)


def test_data_records_date_machine_and_method():
    d = cost.cost_data()
    assert d["measured"] and d["machine"]["cpu"] is not None
    for arch in ("armv6m", "armv7emsp", "xtensawin"):
        a = d["arches"][arch]
        assert a["method"] and a["impls"]["viper"], arch
        assert a["impls"]["viper"]["biquad"] > 0


def test_cycles_sum_stage_costs_plus_io():
    costs = cost.stage_costs("armv6m", "viper")
    io = cost.cost_data()["arches"]["armv6m"]["io_per_sample"]["viper"]
    want = 8 * costs["biquad"] + costs["table"] + 2 * costs["gain"] + io
    assert cost.cycles_per_sample(CHAIN, "armv6m", "viper") == pytest.approx(want)
    # every accepted spelling of a stage list gives the same answer
    model = PedalModel([GainStage(0.0), *[BiquadStage(1, 0, 0, 0, 0)] * 4,
                        TableStage(1.0, -1, 1, [0, 1]), *[BiquadStage(1, 0, 0, 0, 0)] * 4,
                        GainStage(0.0)])
    assert cost.cycles_per_sample(model, "armv6m", "viper") == pytest.approx(want)
    assert cost.cycles_per_sample([{"kind": k} for k in CHAIN], "armv6m", "viper") == \
        pytest.approx(want)


def test_more_stages_cost_more_and_dispatch_is_opt_in():
    base = cost.cycles_per_sample(CHAIN, "xtensawin")
    assert cost.cycles_per_sample(CHAIN + ["biquad"], "xtensawin") > base
    assert cost.cycles_per_sample(CHAIN, "armv6m", include_dispatch=True) > \
        cost.cycles_per_sample(CHAIN, "armv6m")


def test_env_bias_table_costs_as_the_biased_kernel():
    c = cost.stage_costs("armv6m", "viper")
    a = cost.cycles_per_sample(["env_bias", "table"], "armv6m", "viper")
    b = cost.cycles_per_sample(["table"], "armv6m", "viper")
    assert a - b == pytest.approx(c["env_bias"] + c["table_bias"] - c["table"])


def test_unknown_stage_and_arch_raise():
    with pytest.raises(cost.CostModelError, match="reverb"):
        cost.cycles_per_sample(["reverb"], "armv6m")
    with pytest.raises(cost.CostModelError, match="z80"):
        cost.cycles_per_sample(["gain"], "z80")


def test_stored_biquad_costs_match_a_fresh_emulation():
    """Stale data guard: re-run the emulator on today's kernels (tolerance 15 %); if this
    fails, rerun ``python benchmarks/bench_firmware_cost.py --update``."""
    from pedaltool.native_emu import ThumbMachine, per_sample

    pytest.importorskip("unicorn")
    fw = firmware_dir() / "pedalcore"
    m = ThumbMachine("armv6m")
    buf = m.alloc(struct.pack("<128h", *[(i * 977) % 16384 - 8192 for i in range(128)]))
    c = m.alloc(struct.pack("<12i", 4096, -7000, 3000, 7500, -3500, 100, -50, 20, 30, -10,
                            -2, 1))
    st = m.alloc(24)
    viper = m.load_code(mpy.compile_functions(fw / "kernels.py", "armv6m")["biquad_block"].code)
    thumb = m.load_code(mpy.compile_functions(fw / "kernels_thumb.py", "armv6m")["chain"].code)
    prog = m.alloc(struct.pack("<4i", 1, c, st, 0))  # one biquad record
    v = per_sample(lambda n: m.call_viper(viper, [buf, n, c, st, 0])[1], 32, 96).cycles
    t = per_sample(lambda n: m.call_asm(thumb, [buf, n, prog])[1], 32, 96).cycles
    assert v == pytest.approx(cost.stage_costs("armv6m", "viper")["biquad"], rel=0.15)
    assert t == pytest.approx(cost.stage_costs("armv6m", "thumb")["biquad"], rel=0.15)


@pytest.mark.parametrize("stage, fname", [("gain", "gain_block"), ("table", "table_block"),
                                          ("tone", "tone_block"), ("delay", "delay_block")])
def test_stored_xtensawin_viper_costs_are_today_s_loop_counts(stage, fname):
    """Stale data guard for the ESP32's viper kernels, whose cost is a static count of the
    per-sample loop (``native_emu.xtensa_loop``, disassembled by Capstone 6 since 2026-12-07,
    binutils' objdump before: the same counts for every stored kernel): exact, since
    nothing is timed. If this fails, rerun ``python benchmarks/bench_firmware_cost.py
    --update``."""
    from pedaltool.native_emu import xtensa_loop

    code = mpy.compile_functions(firmware_dir() / "pedalcore" / "kernels.py",
                                 "xtensawin")[fname].code
    cycles = cost.xtensa_static_cycles(vars(xtensa_loop(code)))
    assert cycles == cost.stage_costs("xtensawin", "viper")[stage]


def test_kernel_calls_merge_biquad_runs_like_the_engine():
    assert cost.kernel_calls(CHAIN) == 1  # the whole chain is one CHAIN op
    assert cost.kernel_calls(["gain", "biquad", "dcblock", "tone", "biquad"], "xtensawin") == 3
    for arch in ("armv6m", "xtensawin"):
        assert cost.dispatch_cycles_per_sample(CHAIN, arch, block=32) == pytest.approx(
            2 * cost.dispatch_cycles_per_sample(CHAIN, arch, block=64))


def test_fast_sections_cost_less_and_are_recognised_from_their_ints():
    q26 = (67108864, -120000000, 55000000, -121000000, 56000000, -2, 1)
    half = (1 << 26, -(7000 << 14), 3000 << 14, -(7500 << 14), 3500 << 14, -1, 0)
    fast = half[:5] + (0, 0)
    assert cost.biquad_cost_key(q26) == "biquad"
    assert cost.biquad_cost_key(half) == "biquad_half"
    assert cost.biquad_cost_key(fast) == "biquad_fast"
    for arch in ("armv6m", "xtensawin"):
        c = cost.stage_costs(arch)
        assert c["biquad_fast"] < c["biquad_half"] < c["biquad"], arch
        full = cost.cycles_per_sample([{"kind": "biquad", "p": q26}] * 2, arch)
        mixed = cost.cycles_per_sample([{"kind": "biquad", "p": q26},
                                        {"kind": "biquad", "p": half}], arch)
        assert mixed == pytest.approx(full - c["biquad"] + c["biquad_half"])


def test_kernel_calls_follow_the_engine_chains():
    """ARM (asm kernels): the whole model in one chain() call per block, whatever its stages.
    Elsewhere one call per block for a run of cascades/gains/tables (engine CHAIN op);
    env_bias, tone, delay, tap and mix split the chain; a table after env_bias is not
    chained."""
    fitted = ["delay", "tap", "biquad", "env_bias", "table", "mix", "biquad", "tone", "gain"]
    for arch in ("armv6m", "armv7emsp"):
        assert cost.kernel_calls(fitted, arch) == 1
        assert cost.kernel_calls(CHAIN, arch) == 1
        assert cost.kernel_calls(fitted, arch, "viper") == 9
    assert cost.kernel_calls(CHAIN, "xtensawin") == 1
    assert cost.kernel_calls(["delay", "biquad", "biquad", "table", "biquad", "tone",
                              "dcblock", "gain"], "xtensawin") == 4
    assert cost.kernel_calls(["env_bias", "table", "gain"], "xtensawin") == 3
    assert cost.kernel_calls(["gain"]) == 1
    assert cost.kernel_calls([]) == 0


def test_xtensawin_defaults_to_the_asm_kernels_and_their_data_is_fresh():
    """ESP32-S3: the engine runs kernels_xtensa there, so the cost model does too; the stored
    asm numbers match a fresh run of the chain kernel in the Xtensa emulator (15 %), and the
    issue-4 chain (8 sections + table + 2 gains) fits 25 % of the CPU (1250 cycles/sample)."""
    from pedaltool.native_emu import XtensaChain, XtensaMachine, per_sample

    a = cost.cost_data()["arches"]["xtensawin"]
    assert a["default_impl"] == "xtensa"
    xt = cost.stage_costs("xtensawin")
    vi = cost.stage_costs("xtensawin", "viper")
    for k in ("biquad", "biquad_half", "biquad_fast", "gain", "table"):
        assert xt[k] < vi[k] / 3, k
    assert xt["tone"] == vi["tone"]  # no asm tone on xtensa: the viper cost
    kernels_only = cost.cycles_per_sample(CHAIN, "xtensawin") - \
        a["io_per_sample"]["viper"]
    assert kernels_only <= 1250
    assert a["xtensa_chain"]["full8_cycles_per_sample"] <= 1250
    code = mpy.compile_functions(firmware_dir() / "pedalcore" / "kernels_xtensa.py",
                                 "xtensawin")["chain"].code
    m = XtensaMachine()
    ch = XtensaChain(m, m.load_code(code), [("bq", [4096, -7000, 3000, 7500, -3500, 100, -50,
                                                    20, 30, -10, -2, 1], [0] * 6)])
    x = [(i * 977) % 16384 - 8192 for i in range(96)]
    t = per_sample(lambda n: ch.run(x[:n])[1], 32, 96).cycles
    assert t == pytest.approx(xt["biquad"], rel=0.15)


def test_the_rp2040_dispatch_is_the_interpreter_and_the_chain_records():
    """One chain() call per 32-frame block: the interpreter's ~4190 cycles (an estimate) and
    the chain's measured set-up per record (docs/performance.md, "Dispatch"). The fitter's
    budget counts it (structure.cost_cycles)."""
    from pedaltool.fit import structure as S

    assert cost.dispatch_cycles_per_sample([], "armv6m", 32) == 0.0
    assert cost.dispatch_cycles_per_sample(["gain"], "armv6m", 32) == pytest.approx(
        (4190 + 86 + 32) / 32)
    fitted = ["delay", "tap", "biquad", "env_bias", "table", "mix", "dcblock", "tone", "gain"]
    assert cost.dispatch_cycles_per_sample(fitted, "armv6m", 32) == pytest.approx(
        (4190 + 86 + 52 + 32 + 90 + 64 + 61 + 42 + 90 + 57 + 32) / 32)
    assert cost.cycles_per_sample(fitted, "armv6m", include_dispatch=True) == pytest.approx(
        cost.cycles_per_sample(fitted, "armv6m") + cost.dispatch_cycles_per_sample(fitted))
    st = S.grow("wh", S.DEFAULT_BUDGET)
    assert S.cost_cycles(st) == pytest.approx(
        cost.cycles_per_sample(st.stage_types())
        + cost.dispatch_cycles_per_sample(st.stage_types(), "armv6m", 32))
    assert S.cost_cycles(st) <= S.DEFAULT_BUDGET
    with pytest.raises(cost.CostModelError, match="bogus"):
        cost.cycles_per_sample(["gain", "bogus"], include_dispatch=True)


def test_off_arm_the_dispatch_is_the_interpreter_and_a_call_per_op():
    """ESP32 (asm_xtensa): the interpreter, the chain's 713-cycle set-up and ~39 passthrough
    samples per further call; a viper-only port: cost_data.json's per-call figure. Every arch
    still fits a structure in the default budget (a review found xtensawin refused when the
    viper figure was charged for its asm chain)."""
    from pedaltool.fit import structure as S

    wh = S._make("wh", 0, 0).stage_types()  # delay, chain, tone, gain: 4 calls on xtensawin
    assert cost.kernel_calls(wh, "xtensawin") == 4
    assert cost.dispatch_cycles_per_sample(wh, "xtensawin", 128) == pytest.approx(
        (4480 + 713 + 3 * 39 * 37) / 128)
    per_call = cost.cost_data()["arches"]["armv6m"]["dispatch_cycles_per_call"]
    assert cost.dispatch_cycles_per_sample(wh, "armv6m", 32, "viper") == pytest.approx(
        cost.kernel_calls(wh, "armv6m", "viper") * per_call / 32)
    for arch in ("armv6m", "armv7emsp", "xtensawin"):
        assert S.within_budget(S.DEFAULT_BUDGET, arch), arch


def test_kernel_calls_count_what_the_firmware_engine_builds():
    """cost.kernel_calls (off ARM) against the firmware Engine's own ops for real models:
    the engine under CPython chains with arith.chain_block, the same runs of biquads, gains
    and tables as the ESP32's asm chain and the viper one."""
    import numpy as np
    from fwref import every_kind_pedal, eleven_stage_pedal, fw_import
    from pedaltool.pedal import model as M
    from pedaltool.pedal.accuracy import biquad_stage, rbj
    from pedaltool.pedal.fileformat import to_bytes
    from pedaltool.pedal.quantise import quantise

    engine = fw_import("engine")
    pf = fw_import("pedalfile")
    xs = np.linspace(-1.0, 1.0, 65)
    peak = biquad_stage(*rbj("peak", 700, 48000, 0.8, 6))
    table = M.TableStage(1.0, -1.0, 1.0, np.tanh(2 * xs))
    models = [
        [M.DelayStage(5), peak, table, peak, M.ToneStage(900, 12), M.GainStage(-3.0)],
        [M.GainStage(2.0), M.EnvBiasStage(5.0, 80.0, -0.5), table, peak, peak],
        [M.TapStage(1), peak, table, M.MixStage(1, 0.3), M.DcBlockStage(8.0), M.GainStage(1.0)],
        [peak], [M.ToneStage(900, 12)],
    ]
    pedals = [pf.parse(to_bytes(quantise(M.PedalModel(st, 48000, name="k")))) for st in models]
    pedals += [every_kind_pedal(), eleven_stage_pedal()]
    names = {v: k.lower() for k, v in vars(pf).items()
             if k.isupper() and isinstance(v, int) and k in (
                 "GAIN", "BIQUAD", "TABLE", "ENV_BIAS", "TAP", "MIX", "TONE", "DELAY",
                 "DCBLOCK")}
    for p in pedals:
        kinds = [names[st.kind] for st in p.stages]
        assert len(engine.Engine(p, 32).ops) == cost.kernel_calls(kinds, "xtensawin"), kinds
