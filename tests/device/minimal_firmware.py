"""A real but minimal pedal firmware tree for link tests (generated into a temp dir).

It speaks the console protocol of docs/architecture.md (boot line, status, set, save, preset,
bypass, help) and keeps settings in pt/settings.json (temp + rename), so the device link can be
tested end to end before and independently of the product firmware. Never shipped.
"""

from pathlib import Path

from pedaltool.paths import firmware_dir

APP = r'''
import sys, os, json, select

VERSION = "VERSION_TAG"

def _load(path, default):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return default

def _save(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj))
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)

def run(slot_dir, settings_path):
    bank = sorted(n for n in os.listdir(slot_dir + "/bank") if n.endswith(".pedal"))
    board = _load(slot_dir + "/board.json", {})
    st = _load(settings_path, {"preset": 0, "knobs": {}})
    knobs = {"drive": 0.5, "tone": 0.5, "level": 0.5}
    knobs.update(st.get("knobs", {}))
    cur = st.get("preset", 0)
    if not 0 <= cur < len(bank):
        cur = 0
    bypass = False
    def name():
        return bank[cur][:-6] if bank else None
    print("@boot " + json.dumps({"version": VERSION, "preset": cur, "name": name(),
                                 "slot": slot_dir}))
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    line = ""
    while True:
        if not p.poll(20):
            continue
        ch = sys.stdin.read(1)
        if ch not in ("\n", "\r"):
            if len(line) < 200:
                line += ch
            continue
        cmd, line = line.split(), ""
        if not cmd:
            continue
        try:
            if cmd[0] == "status":
                print("@status " + json.dumps({"preset": cur, "name": name(), "bypass": bypass,
                      "knobs": knobs, "board": board.get("name"), "version": VERSION}))
            elif cmd[0] == "set" and len(cmd) == 3 and cmd[1] in knobs:
                v = float(cmd[2])
                if not 0.0 <= v <= 1.0:
                    raise ValueError("out of range")
                knobs[cmd[1]] = v
                print("@ok " + cmd[1] + "=" + str(v))
            elif cmd[0] == "save":
                _save(settings_path, {"preset": cur, "knobs": knobs})
                print("@ok saved")
            elif cmd[0] == "preset" and len(cmd) == 2:
                if cmd[1] == "list":
                    print("@list " + json.dumps([b[:-6] for b in bank]))
                    continue
                cur = (cur + 1) % len(bank) if cmd[1] == "next" else int(cmd[1])
                print("@ok preset " + str(cur))
            elif cmd[0] == "bypass" and len(cmd) == 2 and cmd[1] in ("on", "off"):
                bypass = cmd[1] == "on"
                print("@ok bypass " + cmd[1])
            elif cmd[0] == "help":
                print("@help status set preset bypass save")
            else:
                print("@err unknown command")
        except Exception as e:
            print("@err " + repr(e))
'''


def make_firmware(dest: Path, version: str = "test-1") -> Path:
    """Write main.py (the real boot loader) and a minimal pedalcore package into ``dest``."""
    dest = Path(dest)
    (dest / "pedalcore").mkdir(parents=True, exist_ok=True)
    (dest / "main.py").write_bytes((firmware_dir() / "main.py").read_bytes())
    (dest / "pedalcore" / "__init__.py").write_text("")
    (dest / "pedalcore" / "app.py").write_text(APP.replace("VERSION_TAG", version))
    return dest


def make_bank(dest: Path, names=("alpha", "beta"), salt: float = 0.0,
              rate: int = 48000) -> Path:
    """A bank of real (tiny) pedal models at ``rate`` (Hz): a gain with a drive knob and a
    low-pass biquad."""
    from pedaltool.pedal.fileformat import write_pedal
    from pedaltool.pedal.model import BiquadStage, GainStage, PedalModel
    from pedaltool.pedal.quantise import quantise

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        g = 6.0 + 3.0 * i + salt
        model = PedalModel(
            stages=[GainStage(g, knob="drive", knob_min_db=-12.0, knob_max_db=12.0),
                    BiquadStage(0.2, 0.4, 0.2, -0.3, 0.1), GainStage(-g)],
            name=n, sample_rate=rate,
        )
        write_pedal(dest / f"{n}.pedal", quantise(model), check=False)
    return dest
