"""The pedal's console replies as a guitarist reads them: the status, the preset list and the
other replies as labelled lines (``pedaltool status``, ``preset`` and ``console`` print them)."""

from __future__ import annotations

import json

from pedaltool.device.console import parse_reply
from pedaltool.device.transport import is_virtual_platform
from pedaltool.errors import DeviceError
from pedaltool.printable import shown

# the firmware's peaks are rounded to 0.1 dB (app._dbfs): full scale reads 0.0 (or -0.0, which
# compares equal), and an all-zero block its floor
CLIP_DBFS = 0.0
PEAK_FLOOR_DBFS = -120.0
#: what a virtual pedal's CPU figures are (status and bench say it)
VIRTUAL_NOTE = "this computer's, in a virtual pedal: not the board's"


def preset_label(preset: object, name: object) -> str:
    """"2 (Klon)": a preset's number and its model's name as the pedal reports them, "-" for
    either when there is none (the name escaped: it is the model file's own text)."""
    return f"{preset if preset is not None else '-'} ({shown(str(name or '-'))})"


def readable_reply(line: str) -> list[str]:
    """A line the pedal printed, as a guitarist reads it: ``@status {...}`` as the status
    lines, ``@list`` as the preset list, ``@err x`` as ``error: x``, the others' text without
    the tag (an audit: the console showed the raw protocol). Anything else as it came."""
    try:
        r = parse_reply(line)
    except DeviceError:
        return [line]
    if r.tag == "status" and isinstance(r.data, dict):
        return status_lines(r.data)
    if r.tag == "list":  # presets as dicts; another shape (another firmware) as it came
        ok = isinstance(r.data, list) and all(isinstance(p, dict) for p in r.data)
        return preset_lines(r.data) if ok else [line]
    if r.tag == "err":
        return [f"error: {shown(r.payload)}"]
    if r.tag == "boot" and isinstance(r.data, dict):
        d = r.data
        return [f"pedal started: preset {preset_label(d.get('preset'), d.get('name'))}, "
                f"firmware {d.get('version')}, board {d.get('board')}"]
    if r.tag == "bench" and isinstance(r.data, dict):
        where = f" ({VIRTUAL_NOTE})" if is_virtual_platform(r.data.get("platform")) else ""
        return [f"bench{where}:"] + [f"  {k}: {v}" for k, v in r.data.items()
                                     if k != "platform"]
    return [shown(r.payload)] if r.payload else [f"{r.tag}"]


def preset_lines(items: list) -> list[str]:
    """The pedal's preset list (console `preset list`) as one readable line each."""
    if not items:
        return ["no presets on the pedal (run `pedaltool flash`)"]
    names = [shown(str(p.get("name") or "-")) for p in items]  # (a name with a line break)
    w = max(len(n) for n in names)
    return [f"{p.get('index', '?'):>3}  {name:<{w}}  {shown(str(p.get('file', '')))}"
            + ("" if p.get("ok", True) else f"  ERROR: {shown(str(p.get('error')))}")
            + ("  (playing)" if p.get("current") else "")
            for p, name in zip(items, names, strict=True)]


def status_lines(st: dict) -> list[str]:
    """The pedal's status (console ``status``) as labelled lines in a fixed order, with units:
    the firmware's JSON comes in its dict's hash order, with Python's True/None (an audit).
    Keys this version does not know follow as they are."""
    def dbfs(v):
        return "-" if v is None else f"{v + 0.0:g} dBFS"  # (+ 0.0: -0.0 reads 0)

    def peak(v, where):  # 0 dBFS is the converter's limit: say what it means (an audit)
        if v is not None and v >= CLIP_DBFS:
            return f"{dbfs(v)} (clipping: {where})"
        return "silent" if v is not None and v <= PEAK_FLOOR_DBFS else dbfs(v)

    def knob(v):  # None: no pot on it, and no console value: the preset's fitted point
        return "fitted" if v is None else f"{v:.3f}"

    known = {"preset", "name", "bypass", "knobs", "gate_dbfs", "in_peak_dbfs", "out_peak_dbfs",
             "cpu_load", "cpu_peak", "xruns", "resyncs", "mem_free", "blocks", "fault",
             "board", "block_frames", "rate_hz", "platform"}
    g = st.get
    # a virtual pedal runs the firmware on this computer: its load is not the board's
    cpu_where = f" ({VIRTUAL_NOTE})" if is_virtual_platform(g("platform")) else ""
    rows = [
        ("preset", preset_label(g("preset"), g("name"))),
        ("effect", "bypassed" if g("bypass") else "engaged"),
        ("knobs", ", ".join(f"{k} {knob(v)}" for k, v in (g("knobs") or {}).items()) or "-"),
        ("gate", "off" if g("gate_dbfs") is None else dbfs(g("gate_dbfs"))),
        ("peaks", f"in {peak(g('in_peak_dbfs'), 'turn the guitar or the input gain down')}, "
                  f"out {peak(g('out_peak_dbfs'), 'turn the level knob down')} (since the "
                  "last status)"),
        ("CPU load", f"{g('cpu_load')} % (peak {g('cpu_peak')} %){cpu_where}"),
        ("xruns", f"{g('xruns')} (resyncs {g('resyncs')})"),
        ("free memory", f"{g('mem_free')} bytes"),
        ("fault", g("fault") or "none"),
        ("board", f"{g('board')}, {g('rate_hz')} Hz, {g('block_frames')}-frame blocks "
                  f"({g('blocks')} played)"),
    ]
    rows += [(k, json.dumps(v)) for k, v in sorted(st.items()) if k not in known | {"schema"}]
    w = max(len(k) for k, _ in rows)
    return [f"{k:>{w}}: {v}" for k, v in rows]
