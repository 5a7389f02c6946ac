"""The firmware app loop's work per audio block, in exact x64 instructions (valgrind
callgrind on the MicroPython unix port, the simulated board of firmware/sim): the whole
``app.run`` loop, ``Engine.process`` and the block I/O kernels alone, the simulator's own I2S,
ADC and Pin calls alone (subtracted: a board runs C there) and the control tick's pieces.
Runs of R and 3R blocks, so start-up cancels (docs/performance.md, "The app loop").

    python benchmarks/app_loop_cost/measure.py prepare        # slots, inputs, the A1 fit
    python benchmarks/app_loop_cost/measure.py run --jobs 2   # ~160 valgrind runs, ~6 min
    python benchmarks/app_loop_cost/report.py                 # the table

The MicroPython scripts it runs are in mp/. Work files go to $APP_LOOP_COST_DIR (default
/tmp/pedaltool-app-loop-cost). Needs valgrind and the `micropython` unix port.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "firmware"))  # fwsim: the device slot's layout
import fwsim  # noqa: E402
from pedaltool.paths import firmware_dir  # noqa: E402

ROOT = Path(os.environ.get("APP_LOOP_COST_DIR", "/tmp/pedaltool-app-loop-cost"))
MP_SCRIPTS = HERE / "mp"
A1 = REPO.parent / "shared" / "models" / "core_wavenet_a1_standard.nam"
WORK = ROOT / "work"
RES = ROOT / "results.json"
MP = shutil.which("micropython")
VG = shutil.which("valgrind")
# 0.8 s: R = 1200 blocks of 32, 150 of 256 (past the boot LED code, 650 ms)
FRAMES_R = 38400
BLOCKS = (32, 256)
PEDALS = ("small", "a1")
HEAP = "512k"


def pedal_data(name):
    if name == "small":
        return fwsim.pedal_bytes()
    pedal = ROOT / "a1.pedal"
    if not pedal.exists():  # a real fit (the scored set's slowest structure)
        from pedaltool.fit import fit_capture, write_result

        write_result(fit_capture(A1), pedal)
    return pedal.read_bytes()


def prepare():
    from pedaltool.signals import evaluation_di
    WORK.mkdir(parents=True, exist_ok=True)
    x = evaluation_di()[9600:9600 + 3 * FRAMES_R]  # skip the 0.2 s lead-in: playing from the start
    x16 = np.round(np.clip(x, -1, 1) * 32767).astype("<i2")
    fwsim.write_wav16(WORK / "in_R.wav", x16[:FRAMES_R])
    fwsim.write_wav16(WORK / "in_3R.wav", x16)
    for p in PEDALS:
        for n in BLOCKS:
            root = WORK / f"{p}_{n}"
            root.mkdir(parents=True, exist_ok=True)
            fwsim.make_slot(root, {"a.pedal": pedal_data(p)},
                            fwsim.board_json("rpi_pico", block_frames=n))
            (root / "in_long.raw").write_bytes(x16.tobytes())
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_firmware_cost
    for n in BLOCKS:
        root = WORK / f"bench_{n}"
        root.mkdir(parents=True, exist_ok=True)
        fwsim.make_slot(root, {"a.pedal": bench_firmware_cost.chain_pedal_bytes()},
                        fwsim.board_json("rpi_pico", block_frames=n))
        (root / "in_long.raw").write_bytes(x16.tobytes())
    print("prepared", WORK, "peak", int(np.abs(x16).max()))


def env_for(slot: Path, inp: Path, out: Path, realtime="after_input"):
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(firmware_dir() / "sim"), str(slot)])
    env["PEDALTOOL_SIM_INPUT"] = str(inp)
    env["PEDALTOOL_SIM_OUTPUT"] = str(out)
    env["PEDALTOOL_SIM_REALTIME"] = realtime
    env["PEDALTOOL_SIM_AT_END"] = "stop"
    env["PEDALTOOL_SIM_PORT"] = "rp2"
    env["PYTHONHASHSEED"] = "0"  # the CPython launcher's start-up: deterministic counts
    return env


def jobs():
    """(key, reps, argv-after-script, script, slot, input wav)"""
    out = []
    for n in BLOCKS:
        r = FRAMES_R // n
        for p in PEDALS:
            root = WORK / f"{p}_{n}"
            for var in ("app", "app_noconsole", "app_nocontrol"):
                for k, inp in ((r, "in_R.wav"), (3 * r, "in_3R.wav")):
                    args = [str(root / "slot"), str(root / "settings.json")]
                    if var != "app":
                        args.append(var[4:])
                    out.append((f"{var}/{p}/{n}/{k}", k, MP_SCRIPTS / "app_runner.py", args,
                                root, inp))
            for mode in ("eng", "full", "engsyn"):
                for k in (r, 3 * r):
                    out.append((f"kern_{mode}/{p}/{n}/{k}", k, MP_SCRIPTS / "kern.py",
                                [str(root / "slot"), str(n), str(k), mode, str(3 * r)], root,
                                "in_3R.wav"))
        # the docs' benchmark chain (bench_firmware_cost.chain_pedal_bytes)
        root = WORK / f"bench_{n}"
        for k in (r, 3 * r):
            out.append((f"kern_engsyn/bench/{n}/{k}", k, MP_SCRIPTS / "kern.py",
                        [str(root / "slot"), str(n), str(k), "engsyn", str(3 * r)], root,
                        "in_3R.wav"))
        root = WORK / f"small_{n}"
        for mode in ("base", "unpack", "nop4", "nop8", "wrap"):
            for k in (r, 3 * r):
                out.append((f"kern_{mode}/-/{n}/{k}", k, MP_SCRIPTS / "kern.py",
                            [str(root / "slot"), str(n), str(k), mode, str(3 * r)], root,
                                "in_3R.wav"))
        for mode in ("base", "ctl", "tick", "cupd", "pot", "fs", "led"):
            for k in (r, 3 * r):
                out.append((f"parts_{mode}/small/{n}/{k}", k, MP_SCRIPTS / "parts.py",
                            [str(root / "slot"), str(root / "settings.json"), str(k), mode],
                            root, "in_3R.wav"))
        for mode in ("base", "rd", "wr", "adc", "pin", "c_rd", "c_wr", "c0", "poll",
                     "adc_u", "pin_u", "c0_u", "poll_u", "base_u"):
            for k in (r, 3 * r):
                out.append((f"sim_{mode}/-/{n}/{k}", k, MP_SCRIPTS / "simio.py",
                            [str(n), str(k), mode, str(3 * r)], root, "in_3R.wav"))
    return out


FUNCS = ("mp_thread_get_state", "mp_map_lookup", "m_malloc_maybe", "gc_alloc", "gc_free",
         "fun_viper_call", "mp_hal_ticks_us", "qstr_hash", "mp_setup_code_state")


def fn_inclusive(cg: Path) -> dict:
    """Inclusive x64 instructions of a few C functions (callgrind_annotate --inclusive=yes;
    the un-primed name, i.e. summed over call depths as callgrind_annotate reports it)."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(cg)],
                       capture_output=True, text=True)
    out = {}
    for ln in p.stdout.splitlines():
        parts = ln.split()
        if len(parts) < 3 or not parts[0][0].isdigit():
            continue
        name = ln.split(":")[-1].split(" [")[0] if ".c:" in ln else ""
        for f in FUNCS:
            if name == f or name.startswith(f + "'"):
                out[f] = out.get(f, 0) + int(parts[0].replace(",", ""))
    return out


def run_one(job, use_vg=True):
    key, reps, script, args, root, inp = job
    tag = key.replace("/", "_")
    rundir = WORK / "runs" / tag
    rundir.mkdir(parents=True, exist_ok=True)
    cg = rundir / "cg.out"
    # the app: fwsim.run_fw's heap
    heap = HEAP if script.name in ("app_runner.py", "parts.py") else "16M"
    base = [sys.executable, MP, "-X", f"heapsize={heap}", str(script), *args]
    cmd = ([VG, "--tool=callgrind", f"--callgrind-out-file={cg}",
            "--collect-atstart=no", "--toggle-collect=filter_iternext"] + base) if use_vg else base
    env = env_for(root / "slot", WORK / inp, rundir / "out.wav")
    rfd, wfd = os.pipe()  # stdin: open, nothing written (a board's idle USB console)
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdin=rfd, capture_output=True, text=True, env=env,
                           cwd=rundir, timeout=3600)
    finally:
        os.close(rfd)
        os.close(wfd)
    dt = time.time() - t0
    tot = [ln for ln in p.stderr.splitlines() if "Collected" in ln]
    facts = [ln for ln in p.stdout.splitlines() if ln.startswith("@facts")]
    res = {"key": key, "reps": reps, "rc": p.returncode, "secs": round(dt, 1),
           "facts": facts[-1] if facts else None, "cmd": cmd}
    if tot:
        res["ir"] = int(tot[-1].split(":")[-1].replace(",", "").strip())
    if p.returncode != 0 or (use_vg and not tot) or not facts:
        res["err"] = (p.stderr[-1500:] + p.stdout[-500:])
    if cg.exists():
        res["fn_incl"] = fn_inclusive(cg)
        cg.unlink()  # large; only the total is kept
    return res


def run(argv):
    nj = 2
    only = None
    use_vg = "--novg" not in argv
    if "--jobs" in argv:
        nj = int(argv[argv.index("--jobs") + 1])
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
    js = [j for j in jobs() if only is None or only in j[0]]
    results = json.loads(RES.read_text()) if (RES.exists() and use_vg) else {}
    with ThreadPoolExecutor(nj) as ex:
        for res in ex.map(lambda j: run_one(j, use_vg), js):
            print(res["key"], res.get("ir"), res["secs"], "s", res["facts"],
                  ("ERR " + res["err"]) if "err" in res else "", flush=True)
            if use_vg and "ir" in res:
                results[res["key"]] = res
                RES.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    {"prepare": lambda a: prepare(), "run": run}[sys.argv[1]](sys.argv[2:])
