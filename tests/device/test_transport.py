"""The link over a real pty to the real MicroPython unix port (the virtual pedal)."""

import hashlib
import os
import re

import pytest
from pedaltool.device.transport import BoardInfo, Link, check_board, port_error
from pedaltool.errors import DeviceError


def test_identify_and_raw_repl_left(pedal):
    with Link(pedal.port) as link:
        with link.raw_repl():
            info = link.identify()
        assert info.implementation == "micropython"
        assert info.platform == "linux"
        assert info.arch == "x64" and info.mpy_version == (6, 3)
        assert info.free_bytes and info.free_bytes > 0
        # after the context the board is back in the friendly REPL: it echoes a normal prompt
        link.serial.write(b"\r\n")
        line, lines = link.read_lines_until(lambda s: False, 0.5)
    assert "raw REPL" not in "".join(lines[-1:])


@pytest.mark.parametrize("b64", [True, False])  # False: ports without binascii
def test_write_file_hash_matches(pedal, b64):
    data = os.urandom(5000) + b"\x00\x04\x03\x01" * 100  # control bytes must survive
    with Link(pedal.port) as link, link.raw_repl():
        link.write_file("blob.bin", data, use_base64=b64)
        got = link.eval_json(
            "import hashlib, binascii\nh=hashlib.sha256(open('blob.bin','rb').read())\n"
            "print(repr(binascii.hexlify(h.digest()).decode()))"
        )
    assert got == hashlib.sha256(data).hexdigest()
    assert (pedal.fs_dir / "blob.bin").read_bytes() == data


def test_device_exception_is_one_line(pedal):
    with Link(pedal.port) as link, link.raw_repl():
        with pytest.raises(DeviceError, match="ZeroDivisionError"):
            link.exec("1/0")
        assert link.eval_json("print(6*7)") == 42  # the link still works after an error


def test_soft_reset_reboots_virtual_pedal(pedal):
    (pedal.fs_dir / "main.py").write_text("print('@boot {\"x\": 1}')\n")
    boots = pedal.boots
    with Link(pedal.port) as link:
        link.soft_reset()
        line, _ = link.read_lines_until(lambda s: s.startswith("@boot"), 10)
    assert line == '@boot {"x": 1}'
    assert pedal.boots == boots + 1


def test_missing_port_error_names_the_fix(tmp_path):
    with pytest.raises(DeviceError, match="no such port.*pedaltool virtual"):
        Link(str(tmp_path / "ttyNOPE")).open()


def test_a_file_or_folder_given_as_the_port_is_said_to_be_no_port(tmp_path):
    """`--port di.wav` read "cannot open the port: Could not configure port: (25,
    'Inappropriate ioctl for device')" (an audit)."""
    (tmp_path / "di.wav").write_bytes(b"RIFF")
    for path, what in ((tmp_path / "di.wav", "a file"), (tmp_path, "a folder")):
        with pytest.raises(DeviceError, match=rf"^{re.escape(str(path))}: not a serial port "
                           rf"\({what}\); give the pedal's port"):
            Link(str(path)).open()


def test_a_device_that_is_no_terminal_given_as_the_port_is_said_to_be_no_port():
    """`--port /dev/null` read "cannot open the port: Could not configure port: (25,
    'Inappropriate ioctl for device')" (an audit), where a file or a folder is said to be no
    serial port."""
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    with pytest.raises(DeviceError) as exc:
        Link("/dev/null").open()
    assert str(exc.value) == ("/dev/null: not a serial port (a device that is not a "
                              "terminal); give the pedal's port (e.g. /dev/ttyACM0), or leave "
                              "--port (and $PEDALTOOL_PORT) out to search")


def test_port_busy_error(pedal):
    with Link(pedal.port):
        with pytest.raises(DeviceError, match="port busy"):
            Link(pedal.port).open()


def test_permission_error_message():
    err = port_error("/dev/ttyACM0", PermissionError(13, "Permission denied"))
    assert "dialout" in str(err) and "udev" in str(err)


def test_silent_port_says_no_micropython(tmp_path):
    # a pty nobody answers on: like a board without MicroPython (or a blank chip)
    m, s = os.openpty()
    try:
        with Link(os.ttyname(s)) as link:
            with pytest.raises(DeviceError, match="no MicroPython REPL.*install-micropython"):
                link.enter_raw()
    finally:
        os.close(m)
        os.close(s)


def _info(**kw):
    base = dict(port="P", implementation="micropython", version=(1, 24, 1), machine="m",
                platform="rp2", mpy=6 | (3 << 8) | (4 << 10), free_bytes=1, total_bytes=2)
    base.update(kw)
    return BoardInfo(**base)


def test_check_board_rejects_circuitpython_and_old():
    with pytest.raises(DeviceError, match="CircuitPython.*install-micropython"):
        check_board(_info(implementation="circuitpython"))
    with pytest.raises(DeviceError, match="1.19.1 is too old"):
        check_board(_info(version=(1, 19, 1)))
    check_board(_info())
    assert _info().arch == "armv6m"
