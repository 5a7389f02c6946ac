"""The per-block counts, derived from measure.py's results.json (see measure.py).
usage: python benchmarks/app_loop_cost/report.py [results.json]"""
import json
import os
import sys

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("APP_LOOP_COST_DIR", "/tmp/pedaltool-app-loop-cost"), "results.json")
D = json.load(open(path))
FR = 38400
SCALE = 1.68        # the project's x64 -> RP2040 cycles (x1.13 instructions, CPI 1.49): unverified
CYC_PER_SAMPLE = 125e6 / 48000  # 2604


def pair(kind, ped, n):
    r = FR // n
    a, b = D[f"{kind}/{ped}/{n}/{r}"]["ir"], D[f"{kind}/{ped}/{n}/{3 * r}"]["ir"]
    return a, b, (b - a) / (2 * r)


def per(kind, ped, n):
    return pair(kind, ped, n)[2]


def fper(kind, ped, n, fn):
    """per block inclusive x64 instructions of C function fn"""
    r = FR // n
    a = D[f"{kind}/{ped}/{n}/{r}"].get("fn_incl", {}).get(fn, 0)
    b = D[f"{kind}/{ped}/{n}/{3 * r}"].get("fn_incl", {}).get(fn, 0)
    return (b - a) / (2 * r)


print("raw pairs (x64 instructions, callgrind 'Collected'), per block = (3R - R) / 2R")
for k in sorted({k.rsplit("/", 1)[0] for k in D}):
    kind, ped, n = k.split("/")
    a, b, p = pair(kind, ped, int(n))
    r = FR // int(n)
    print(f"  {k:28s} R={r:5d}: {a:>14,d}  3R={3 * r:5d}: {b:>14,d}   per block {p:12.1f}")

out = {}
for n in (32, 256):
    kb = per("kern_base", "-", n)
    sb = per("sim_base", "-", n)
    unpack = per("kern_unpack", "-", n) - kb
    nop4 = per("kern_nop4", "-", n) - kb
    nop8 = per("kern_nop8", "-", n) - kb
    wrap = per("kern_wrap", "-", n) - kb
    sim = {m: per("sim_" + m, "-", n) - sb for m in ("rd", "wr", "adc", "pin", "c_rd", "c_wr",
                                                      "c0", "poll")}
    sbu = per("sim_base_u", "-", n)
    for m in ("adc", "pin", "c0", "poll"):  # heap unlocked, as in the app's control tick
        sim[m + "_u"] = per(f"sim_{m}_u", "-", n) - sbu
    # rd/wr run in the heap-locked audio block, ADC/Pin in the unlocked control tick
    sim_gross = sim["rd"] + sim["wr"] + sim["adc_u"] + sim["pin_u"]
    c_stand = sim["c_rd"] + sim["c_wr"] + 2 * sim["c0_u"]
    for ped in ("small", "a1"):
        A = per("app", ped, n)
        Anc = per("app_noconsole", ped, n)
        Anctl = per("app_nocontrol", ped, n)
        eng = per("kern_eng", ped, n) - per("kern_unpack", "-", n)
        full = per("kern_full", ped, n) - kb
        mix = per("kern_full", ped, n) - per("kern_eng", ped, n)
        engsyn = per("kern_engsyn", ped, n)
        rem_unix = A - full - sim_gross
        rem_unix_nc = Anc - full - sim_gross
        rem_arm = rem_unix + c_stand + nop4 + wrap
        rem_arm_nc = rem_unix_nc + c_stand + nop4 + wrap
        out[(ped, n)] = dict(A=A, Anc=Anc, Anctl=Anctl, eng=eng, unpack=unpack, mix=mix,
                             full=full, engsyn=engsyn, sim_gross=sim_gross, c_stand=c_stand,
                             nop4=nop4, nop8=nop8, wrap=wrap, console=A - Anc,
                             control=A - Anctl, rem_unix=rem_unix, rem_arm=rem_arm,
                             rem_arm_nc=rem_arm_nc, **{"sim_" + k: v for k, v in sim.items()})

for n in (32, 256):
    print(f"\n=== block {n} (per block, x64 instructions) ===")
    keys = ["A", "Anc", "Anctl", "full", "unpack", "eng", "mix", "engsyn", "sim_rd", "sim_wr",
            "sim_adc", "sim_adc_u", "sim_pin", "sim_pin_u", "sim_gross", "sim_c_rd", "sim_c_wr",
            "sim_c0", "sim_c0_u", "c_stand", "nop4", "nop8", "wrap", "sim_poll", "sim_poll_u",
            "console", "control", "rem_unix", "rem_arm", "rem_arm_nc"]
    print(f"  {'':12s} {'small':>12s} {'a1':>12s}")
    for k in keys:
        print(f"  {k:12s} {out[('small', n)][k]:12.1f} {out[('a1', n)][k]:12.1f}")

print("\n=== split of the ARM-relevant remainder (no console) into per block + per sample ===")
for ped in ("small", "a1"):
    r32, r256 = out[(ped, 32)]["rem_arm_nc"], out[(ped, 256)]["rem_arm_nc"]
    ps = (r256 - r32) / (256 - 32)
    pb = r32 - 32 * ps
    con32 = out[(ped, 32)]["console"]
    print(f"  {ped}: rem(32) {r32:.0f}, rem(256) {r256:.0f} -> per block {pb:.0f} + per sample "
          f"{ps:.2f}; console share at 32: {con32:.0f}/block")

print(f"\n=== final estimate at block 32 (RP2040, x{SCALE} scaling: the project's "
      "unverified assumption) ===")
for ped in ("small", "a1"):
    o = out[(ped, 32)]
    for lab, v in (("with console poll", o["rem_arm"]), ("  of which console", o["console"]),
                   ("no console", o["rem_arm_nc"])):
        cyc = v * SCALE
        print(f"  {ped:5s} {lab:18s}: {v:8.0f} x64 instr/block -> {cyc:8.0f} cycles/block = "
              f"{cyc / 32:6.1f} cycles/sample = {100 * cyc / 32 / CYC_PER_SAMPLE:5.2f} % of 2604")

print("\n=== control-tick pieces alone (parts.py, heap unlocked, sim ADC/Pin included), "
      "per call ===")
for n in (32, 256):
    b = per("parts_base", "small", n)
    print(f"  block {n}: " + ", ".join(f"{m} {per('parts_' + m, 'small', n) - b:.0f}"
                                      for m in ("ctl", "tick", "cupd", "pot", "fs", "led")))

print("\n=== C functions inside the remainder (app - kernels - sim I/O calls), per block at 32 ===")
FN = ("mp_map_lookup", "qstr_hash", "mp_thread_get_state", "m_malloc_maybe", "gc_alloc",
      "gc_free", "mp_setup_code_state", "fun_viper_call", "mp_hal_ticks_us")
for ped in ("small", "a1"):
    n = 32
    row = []
    for fn in FN:
        app_ = fper("app", ped, n, fn)
        kf = fper("kern_full", ped, n, fn) - fper("kern_base", "-", n, fn)
        sm = (sum(fper("sim_" + m, "-", n, fn) - fper("sim_base", "-", n, fn) for m in ("rd", "wr"))
              + sum(fper("sim_" + m, "-", n, fn) - fper("sim_base_u", "-", n, fn)
                    for m in ("adc_u", "pin_u")))
        row.append(f"{fn} app {app_:.0f} / rem {app_ - kf - sm:.0f}")
    print(f"  {ped}: " + "; ".join(row))

print("\n=== Engine.process alone, split per block + per sample (32 vs 256) ===")
for ped in ("bench", "small", "a1"):
    c32, c256 = per("kern_engsyn", ped, 32), per("kern_engsyn", ped, 256)
    ps = (c256 - c32) / 224
    print(f"  synthetic buffer (VG_SCRIPT way) {ped:5s}: {c32:9.1f} / {c256:9.1f} -> per block "
          f"{c32 - 32 * ps:8.1f} + per sample {ps:7.2f}")
for ped in ("small", "a1"):
    e = [per("kern_eng", ped, n) - per("kern_unpack", "-", n) for n in (32, 256)]
    ps = (e[1] - e[0]) / 224
    print(f"  app's input blocks               {ped:5s}: {e[0]:9.1f} / {e[1]:9.1f} -> per block "
          f"{e[0] - 32 * ps:8.1f} + per sample {ps:7.2f}")
print("\n=== the app loop (everything) split per block + per sample ===")
for ped in ("small", "a1"):
    a32, a256 = per("app_noconsole", ped, 32), per("app_noconsole", ped, 256)
    ps = (a256 - a32) / 224
    print(f"  {ped}: {a32:.0f} / {a256:.0f} -> per block {a32 - 32 * ps:.0f} + per sample {ps:.1f}")
