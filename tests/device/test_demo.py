"""`pedaltool demo`: the whole product, no hardware, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    exe = str(Path(sys.executable).parent / "pedaltool")
    env = dict(os.environ)
    p = subprocess.run([exe, "demo", "--quick"], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=1200)
    assert p.returncode == 0, p.stdout + p.stderr
    out = tmp_path / "pedaltool-demo"
    for name in ("di.wav", "pedal_out.wav", "pedal_drive.wav", "capture_ref.wav", "demo.png",
                 "report.json", "pedals/diode_clipper.pedal"):
        assert (out / name).is_file(), name
    text = (out / "report.json").read_text()
    report = json.loads(text)
    # as every JSON pedaltool writes: the schema first, indented by 2, a final newline
    assert list(report)[0] == "schema" and text.startswith('{\n  "schema"') and text.endswith(
        "}\n")
    # the firmware in the virtual pedal computes exactly what the host simulator computes
    assert report["pedal_vs_host"]["max_abs_diff_lsb"] == 0
    assert report["drive_knob"]["max_abs_diff_lsb"] == 0
    pedal = report["metrics"]["virtual pedal vs capture"]
    host = report["metrics"]["host simulator vs capture"]
    assert pedal["esr"] == pytest.approx(host["esr"], rel=1e-3)
    assert pedal["esr"] < 0.5  # it sounds like the capture, not like a bypassed pedal
    assert "virtual pedal vs host simulator: max |diff| 0 LSB" in p.stdout
    # the fit's own model score beside its baseline, both on its evaluation DI, and said so:
    # the baseline alone beside the demo's 10 s rows read as the model doing twice as badly
    # (an audit)
    fitted, base = report["metrics"]["fitted model (fit report)"], report["metrics"][
        "naive baseline (fit report)"]
    assert fitted["esr"] > 0 and base["esr"] > 0
    assert "(fit report: on the fit's 20 s evaluation DI;" in p.stdout
    # what `pedaltool fit` says under its result (a model idling above the contract's floor),
    # the demo says too, and keeps in its report
    assert isinstance(report["fit_notes"], list)
    for note in report["fit_notes"]:
        assert note.startswith(("note:", "warning:")) and f"    {note}\n" in p.stdout


def test_a_demo_whose_fit_fails_leaves_no_folder_behind(tmp_path):
    """An interrupted or failed fit left an empty pedals/ folder (an audit): the folder is
    made with the model's file."""
    from pedaltool.device.demo import run_demo
    from pedaltool.errors import PedaltoolError

    broken = tmp_path / "broken.nam"
    broken.write_text("{not json")
    with pytest.raises(PedaltoolError, match="broken.nam"):
        run_demo(tmp_path / "demo", echo=lambda s: None, capture=broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.nam"]
