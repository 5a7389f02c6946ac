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
