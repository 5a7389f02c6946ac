"""Board profiles: every bundled profile validates, breaks are caught, board.json round-trips."""

import json
import subprocess

import pytest
from pedaltool import boards
from pedaltool.device.virtual import micropython_executable
from pedaltool.errors import DeviceError
from pedaltool.paths import firmware_dir

EXPECTED = {"esp32s3_devkitc1": "xtensawin", "esp32_devkitc": "xtensawin",
            "rpi_pico": "armv6m", "rpi_pico2": "armv7emsp"}


def test_the_four_boards_are_there():
    assert set(EXPECTED) <= set(boards.list_boards())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_is_valid_and_complete(name):
    p = boards.load_board(name)
    assert p.mpy_arch == EXPECTED[name]
    assert p.usb_ids and all(len(u) == 9 and u[4] == ":" for u in p.usb_ids)
    d = p.data
    assert d["adc_codec"]["clock"] and d["dac_codec"]["clock"]  # each says how it is clocked
    assert set(d["controls"]["pots"]) == {"drive", "tone", "level"}
    assert d["controls"]["footswitch"] is not None and d["controls"]["led"] is not None
    if p.port == "rp2":
        assert p.block_frames * 1000 / p.sample_rate_hz < 1.0  # small blocks for <= 3 ms


def _broken(name, edit):
    d = json.loads(json.dumps(boards.load_board(name).data))
    edit(d)
    return d


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["i2s_in"].update(ws=d["i2s_in"]["sck"] + 2), r"ws must be sck \+ 1"),
    (lambda d: d["controls"].update(led=d["i2s_out"]["sd"]), "both use GPIO"),
    (lambda d: d["controls"].update(footswitch=25), "reserves"),
    (lambda d: d["controls"]["pots"].update(tone=9), "no usable ADC"),
    (lambda d: d["audio"].update(block_frames=48), "power of two"),
    # the output ramps' floor carried a fade one step past its end on longer blocks (a review)
    (lambda d: d["audio"].update(block_frames=512, ibuf_bytes=16384), r"power of two 8\.\.256"),
    (lambda d: d["audio"].update(ibuf_bytes=64), "at least two blocks"),
    (lambda d: d.update(mpy_arch="x64"), "mpy_arch"),
    (lambda d: d["i2s_out"].update(id=d["i2s_in"]["id"]), "different I2S ids"),
    (lambda d: d["adc_codec"].update(chip="pcm1808"), "not supported"),
])
def test_broken_profiles_are_rejected(edit, message):
    with pytest.raises(DeviceError, match=message):
        boards.validate(_broken("rpi_pico", edit), "test.toml")


@pytest.mark.parametrize("name, ibuf, frames, ok", [
    ("rpi_pico", 4096, 512, True),
    ("rpi_pico", 512, 64, True),        # two 32-frame blocks of 8-byte frames
    ("rpi_pico", 256, 32, False),       # one block: two of 4-byte frames, once accepted
    ("esp32_devkitc", 8192, 1024, True),  # four 256-frame DMA descriptors
    ("esp32_devkitc", 1024, 512, True),   # the driver's minimum of two descriptors
])
def test_the_rx_ring_is_counted_in_the_drivers_8_byte_frames(name, ibuf, frames, ok, tmp_path):
    """MicroPython's I2S keeps received frames as 32-bit stereo whatever the format read: the
    host's check and the firmware's (which sizes the xrun threshold) agree on the frames."""
    d = _broken(name, lambda d: d["audio"].update(ibuf_bytes=ibuf))
    if not ok:
        with pytest.raises(DeviceError, match="at least two blocks"):
            boards.validate(d, "test.toml")
    else:
        p = boards.validate(d, "test.toml")
        (tmp_path / "board.json").write_bytes(boards.to_device_json(p))
        code = "from pedalcore import board; print(board.load('board.json').rx_frames)"
        out = subprocess.run([micropython_executable(), "-c", code], capture_output=True,
                             text=True, cwd=tmp_path, env={"MICROPYPATH": str(firmware_dir())},
                             check=True)
        assert int(out.stdout) == frames


def test_a_profile_of_an_unexpected_shape_is_one_error_naming_the_file(tmp_path):
    """`audio = 5` where a table is expected raised AttributeError out of load_board; flash
    and install-micropython each wrapped it their own way (a review). load_board says it."""
    src = (boards.boards_dir() / "rpi_pico.toml").read_text()
    p = tmp_path / "odd.toml"
    p.write_text(src.replace("[audio]", "audio = 5\n[audio_x]", 1))
    with pytest.raises(DeviceError, match=r"odd.toml: bad board profile \(AttributeError: "):
        boards.load_board(p)
    from pedaltool.device.flash import board_json
    from pedaltool.device.install import target_for_board

    for use in (board_json, target_for_board):
        with pytest.raises(DeviceError, match="odd.toml: bad board profile"):
            use(str(p))


@pytest.mark.parametrize("edit, message", [
    # the host accepted these, and the firmware then stopped at start or floated (a review)
    (lambda d: d["controls"].update(led=38), "controls.led: GPIO 38 is input-only"),
    (lambda d: d["controls"].update(footswitch=37), "controls.footswitch: GPIO 37 is input-only"),
    (lambda d: d["controls"].update(debounce_ms="20ms"), "debounce_ms must be a whole number"),
    (lambda d: d["controls"]["pots"].update(gain=d["controls"]["pots"].pop("tone")),
     "controls.pots.gain: a pot turns one of the knobs"),
    (lambda d: d["controls"].update(expression_knob="volume"), "expression_knob 'volume'"),
])
def test_settings_the_firmware_cannot_run_are_rejected(edit, message):
    with pytest.raises(DeviceError, match=message):
        boards.validate(_broken("esp32_devkitc", edit), "esp32.toml")


def test_esp32_strapping_pin_rejected():
    d = _broken("esp32_devkitc", lambda d: d["controls"].update(footswitch=12))
    with pytest.raises(DeviceError, match="GPIO 12"):
        boards.validate(d, "esp32.toml")


def test_unknown_board_names_the_known_ones():
    with pytest.raises(DeviceError, match="rpi_pico"):
        boards.load_board("nope")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_device_json_is_read_by_the_firmware(name, tmp_path):
    p = boards.load_board(name)
    (tmp_path / "board.json").write_bytes(boards.to_device_json(p))
    code = ("from pedalcore import board; b = board.load('board.json'); "
            "print(b.name, b.rate_hz, b.block, b.ibuf, b.tx_ibuf, b.controls['footswitch'])")
    out = subprocess.run([micropython_executable(), "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={"MICROPYPATH": str(firmware_dir())}, check=True)
    got = out.stdout.split()
    assert got[0] == name and int(got[1]) == p.sample_rate_hz and int(got[2]) == p.block_frames
    assert int(got[3]) == p.data["audio"]["ibuf_bytes"]
    assert int(got[5]) == p.data["controls"]["footswitch"]
