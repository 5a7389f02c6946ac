"""Port discovery by USB IDs, board-profile recognition, the no-device message."""

import pytest
from pedaltool import boards
from pedaltool.device import discovery
from pedaltool.device.transport import BoardInfo
from pedaltool.errors import DeviceError


@pytest.mark.parametrize("vid, pid, ok", [
    (0x303A, 0x4001, True), (0x303A, 0x1001, True), (0x10C4, 0xEA60, True),
    (0x1A86, 0x7523, True), (0x1A86, 0x55D4, True), (0x0403, 0x6001, True),
    (0x0403, 0x6015, True), (0x2E8A, 0x0005, True),
    (0x046D, 0xC52B, False), (0x0403, 0x1234, False), (None, None, False),
])
def test_known_usb_ids(vid, pid, ok):
    assert (discovery.classify(vid, pid) is not None) == ok


def test_every_profile_usb_id_is_recognised():
    for name in boards.list_boards():
        for ids in boards.load_board(name).usb_ids:
            vid, pid = (int(x, 16) for x in ids.split(":"))
            assert discovery.classify(vid, pid), (name, ids)


def _info(machine, platform="rp2"):
    return BoardInfo(port="P", implementation="micropython", version=(1, 25, 0), machine=machine,
                     platform=platform, mpy=None, free_bytes=None, total_bytes=None)


@pytest.mark.parametrize("machine, platform, board", [
    ("Raspberry Pi Pico with RP2040", "rp2", "rpi_pico"),
    ("Raspberry Pi Pico 2 with RP2350", "rp2", "rpi_pico2"),
    ("Generic ESP32S3 module with ESP32S3", "esp32", "esp32s3_devkitc1"),
    ("Generic ESP32 module with ESP32", "esp32", "esp32_devkitc"),
    ("linux [GCC 14.2.1] version", "linux", "rpi_pico"),
])
def test_board_recognised_from_machine(machine, platform, board):
    assert discovery.board_for_machine(_info(machine, platform), boards.list_boards()) == board


@pytest.mark.parametrize("machine", ["Arduino Nano 33", "ESP32C3 module with ESP32C3",
                                     "Generic ESP32S2 module with ESP32S2",
                                     "ESP32C6 module with ESP32C6",
                                     "Generic ESP32P4 module with ESP32P4",
                                     "ESP32H2 module with ESP32H2"])
def test_a_board_without_a_profile_is_none(machine):
    """(An ESP32-S2, -C3 or -C6 was given the ESP32 DevKitC's pins: a review.)"""
    assert discovery.board_for_machine(_info(machine, "esp32"), boards.list_boards()) is None


def test_no_device_message_points_to_virtual(monkeypatch):
    monkeypatch.delenv("PEDALTOOL_PORT", raising=False)
    monkeypatch.setattr(discovery, "find_pedals", lambda include_virtual=True: [])
    with pytest.raises(DeviceError, match="pedaltool virtual") as e:
        discovery.resolve_port(None)
    # every vendor of KNOWN_USB_IDS is named among those looked for (MicroPython's own ID
    # was left out of the words, an audit)
    said = str(e.value).split(";")[0]
    names = {0x303A: "Espressif", 0x10C4: "CP210x", 0x1A86: "CH34x", 0x0403: "FTDI",
             0x2E8A: "Raspberry Pi", 0xF055: "MicroPython"}
    assert {vid for vid, _ in discovery.KNOWN_USB_IDS} <= set(names)
    assert all(names[vid] in said for vid, _ in discovery.KNOWN_USB_IDS), said


def test_running_virtual_pedal_is_found(tmp_path, monkeypatch):
    from pedaltool.device import virtual

    monkeypatch.setattr(virtual, "REGISTRY_DIR", tmp_path / "reg")
    vp = virtual.VirtualPedal(register=True)
    vp.start()
    try:
        assert vp.port in virtual.running_virtual_ports()
        assert vp.port in [c.port for c in discovery.find_pedals()]
    finally:
        vp.stop()
    assert vp.port not in virtual.running_virtual_ports()
