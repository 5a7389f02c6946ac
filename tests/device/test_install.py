"""install-micropython: UF2 family checks, the UF2 drive copy, esptool call plans (no hardware)."""

import struct

import pytest
from esptool.targets import CHIP_DEFS
from pedaltool.device import install as inst
from pedaltool.errors import DeviceError

# the UF2 specification's own numbers (github.com/microsoft/uf2, README and utils/uf2families.
# json), written out here so that a wrong constant in the code cannot agree with itself (a
# test audit: the images were built from the code's constants)
MAGIC_START0, MAGIC_START1, MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30  # "UF2\n", ...
FLAG_FAMILY_ID = 0x00002000
FAMILIES = {"RP2040": 0xE48BFF56, "absolute": 0xE48BFF57, "data": 0xE48BFF58,
            "RP2350-ARM-S": 0xE48BFF59, "RP2350-RISCV": 0xE48BFF5A, "RP2350-ARM-NS": 0xE48BFF5B}


def test_the_uf2_constants_are_the_specifications():
    assert (inst.UF2_MAGIC_START0, inst.UF2_MAGIC_START1, inst.UF2_MAGIC_END) == (
        MAGIC_START0, MAGIC_START1, MAGIC_END)
    assert inst.UF2_FLAG_FAMILY_ID == FLAG_FAMILY_ID
    assert (inst.UF2_FAMILY_RP2040, inst.UF2_FAMILY_ABSOLUTE, inst.UF2_FAMILY_DATA,
            inst.UF2_FAMILY_RP2350_ARM_S, inst.UF2_FAMILY_RP2350_RISCV,
            inst.UF2_FAMILY_RP2350_ARM_NS) == tuple(FAMILIES.values())


def uf2(families, blocks=4, flags_extra=0):
    """A UF2 image in the format of Microsoft's uf2conv (512-byte blocks), built from the
    specification's numbers."""
    out = b""
    n = blocks * len(families)
    i = 0
    for fam in families:
        for _ in range(blocks):
            payload = bytes([i & 0xFF]) * 256
            head = struct.pack("<8I", MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID | flags_extra,
                               0x10000000 + 256 * i, 256, i, n, fam)
            out += head + payload + bytes(476 - 256) + struct.pack("<I", MAGIC_END)
            i += 1
    return out


def test_uf2_families_counted():
    data = uf2([inst.UF2_FAMILY_ABSOLUTE, inst.UF2_FAMILY_RP2350_ARM_S], blocks=3)
    assert inst.uf2_families(data) == {inst.UF2_FAMILY_ABSOLUTE: 3,
                                       inst.UF2_FAMILY_RP2350_ARM_S: 3}


def test_uf2_family_matches_chip():
    pico, pico2 = inst.TARGETS["RP2040"], inst.TARGETS["RP2350"]
    inst.check_uf2(uf2([inst.UF2_FAMILY_RP2040]), pico)
    inst.check_uf2(uf2([inst.UF2_FAMILY_ABSOLUTE, inst.UF2_FAMILY_RP2350_ARM_S]), pico2)
    with pytest.raises(DeviceError, match="0xE48BFF59.*does not match the RP2040.*RPI_PICO/"):
        inst.check_uf2(uf2([inst.UF2_FAMILY_RP2350_ARM_S]), pico)
    with pytest.raises(DeviceError, match="RISC-V"):
        inst.check_uf2(uf2([inst.UF2_FAMILY_RP2350_RISCV]), pico2)


def test_not_a_uf2():
    with pytest.raises(DeviceError, match="not a UF2"):
        inst.uf2_families(b"\x00" * 512)
    with pytest.raises(DeviceError, match="multiple of 512"):
        inst.uf2_families(b"\x00" * 100)


def test_rp2_copy_to_bootloader_drive(tmp_path):
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text(
        "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    fw = tmp_path / "RPI_PICO-20250415-v1.25.0.uf2"
    fw.write_bytes(uf2([inst.UF2_FAMILY_RP2040]))
    lines = list(inst.install_rp2("rpi_pico", inst.TARGETS["RP2040"], fw, None,
                                  drive_roots=[drive], drive_timeout_s=1))
    assert (drive / fw.name).read_bytes() == fw.read_bytes()
    assert lines[-1].startswith("done")


def test_rp2_wrong_drive_is_named(tmp_path):
    drive = tmp_path / "RP2350"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("Model: Raspberry Pi RP2350\nBoard-ID: RP2350\n")
    with pytest.raises(DeviceError, match="none is a RP2040"):
        inst.wait_for_drive(inst.TARGETS["RP2040"], timeout_s=0.6, extra_roots=[drive])


def esp_image(chip_id):
    """The first bytes of an ESP bootloader image: magic, segments, mode, extended header."""
    head = bytes([0xE9, 3, 2, 0x20]) + struct.pack("<I", 0x40080000)
    ext = bytes([0xEE, 0, 0, 0]) + struct.pack("<H", chip_id) + bytes(10)
    return head + ext + bytes(64)


@pytest.mark.parametrize("mcu, chip, offset", [("ESP32", "esp32", 0x1000),
                                                ("ESP32-S3", "esp32s3", 0x0)])
def test_esptool_plan_uses_the_chip_offset(tmp_path, mcu, chip, offset):
    t = inst.TARGETS[mcu]
    fw = tmp_path / f"{t.download_board}-20250415-v1.25.0.bin"
    fw.write_bytes(esp_image(CHIP_DEFS[chip].IMAGE_CHIP_ID))
    steps = inst.esptool_steps(t, fw, erase=True)
    names = [s[0] for s in steps]
    assert names == ["detect_chip", "run_stub", "attach_flash", "erase_flash", "write_flash",
                     "reset_chip"]
    assert steps[4][1] == ((offset, str(fw)),)
    assert "erase_flash" not in [s[0] for s in inst.esptool_steps(t, fw, erase=False)]
    # every planned call is a real function of esptool's public API
    from esptool import cmds
    assert all(callable(getattr(cmds, n)) for n in names)


def test_esp_image_for_other_chip_refused(tmp_path):
    fw = tmp_path / "ESP32_GENERIC-20250415-v1.25.0.bin"
    fw.write_bytes(esp_image(CHIP_DEFS["esp32"].IMAGE_CHIP_ID))
    with pytest.raises(DeviceError, match="image is for ESP32.*ESP32_GENERIC_S3"):
        inst.esptool_steps(inst.TARGETS["ESP32-S3"], fw, erase=False)
    fw.write_bytes(b"\x00" * 64)
    with pytest.raises(DeviceError, match="not an ESP firmware image"):
        inst.esptool_steps(inst.TARGETS["ESP32"], fw, erase=False)


@pytest.mark.parametrize("board, url, ext", [
    ("rpi_pico", "micropython.org/download/RPI_PICO/", ".uf2"),
    ("rpi_pico2", "micropython.org/download/RPI_PICO2/", ".uf2"),
    ("esp32s3_devkitc1", "micropython.org/download/ESP32_GENERIC_S3/", ".bin"),
    ("esp32_devkitc", "micropython.org/download/ESP32_GENERIC/", ".bin"),
])
def test_without_firmware_says_what_to_download(board, url, ext):
    with pytest.raises(DeviceError) as e:
        list(inst.install(board, None))
    msg = str(e.value)
    assert url in msg and ext in msg and f"--board {board}" in msg


def test_wrong_file_type(tmp_path):
    fw = tmp_path / "x.bin"
    fw.write_bytes(b"\xe9" * 64)
    with pytest.raises(DeviceError, match="needs a .uf2 file"):
        list(inst.install("rpi_pico", fw))
