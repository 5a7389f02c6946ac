"""Read a .pedal file (spec: docs/pedal-format.md) into integer arrays, with every check.

Plain Python for CPython and MicroPython (struct, binascii, array). ``parse(data, name)`` returns a
:class:`Pedal` or raises ``ValueError("<name>: <problem>")``. ``check_stage`` is the one place
that bounds every parameter so that the arithmetic in ``arith.py`` stays within 32 bits; the host
quantiser and reader use it too.
"""

import struct
from array import array

try:
    from binascii import crc32
except ImportError:  # a port built without binascii.crc32: same CRC, bit by bit (load time only)

    def crc32(data):
        crc = 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
        return crc ^ 0xFFFFFFFF

MAGIC = b"PDL1"
VERSION = 1
HEADER_SIZE = 24
STAGE_HEADER_FMT = "<BBHHH"  # kind, knob, n_params, n_table, reserved
STAGE_HEADER_SIZE = 8
META_ENTRY_FMT = "<BBH"  # key, reserved, length of the value
MAX_STAGES = 64
MAX_FILE = 65536

GAIN = 1
BIQUAD = 2
TABLE = 3
ENV_BIAS = 4
TAP = 5
MIX = 6
TONE = 7
DELAY = 8
DCBLOCK = 9

KIND_NAMES = {GAIN: "gain", BIQUAD: "biquad", TABLE: "table", ENV_BIAS: "env_bias", TAP: "tap",
              MIX: "mix", TONE: "tone", DELAY: "delay", DCBLOCK: "dcblock"}
# number of int32 parameters per stage kind (order: docs/pedal-format.md)
N_PARAMS = {GAIN: 4, BIQUAD: 7, TABLE: 6, ENV_BIAS: 4, TAP: 1, MIX: 3, TONE: 3, DELAY: 1,
            DCBLOCK: 7}
KNOB_NONE = 0
KNOB_DRIVE = 1
KNOB_TONE = 2
KNOB_LEVEL = 3
KNOB_NAMES = {KNOB_NONE: None, KNOB_DRIVE: "drive", KNOB_TONE: "tone", KNOB_LEVEL: "level"}

META_NAME = 1
META_SOURCE_FILE = 2
META_SOURCE_SHA256 = 3
META_GEAR_TYPE = 4
META_TONE_TYPE = 5
META_ESR = 6  # f32
META_ESR_PRE = 7  # f32
META_CYCLES = 8  # f32
META_EFFORT = 9  # text: the fitter's effort (host use only)
META_FLOAT_KEYS = (META_ESR, META_ESR_PRE, META_CYCLES)
META_TEXT_KEYS = (META_NAME, META_SOURCE_FILE, META_SOURCE_SHA256, META_GEAR_TYPE,
                  META_TONE_TYPE, META_EFFORT)
# the knobs a stage may carry; any other kind takes none
KNOBS_OF = {GAIN: (KNOB_NONE, KNOB_DRIVE, KNOB_LEVEL), TABLE: (KNOB_NONE, KNOB_DRIVE),
            TONE: (KNOB_NONE, KNOB_TONE)}

Q26_ONE = 1 << 26
BQ_SUM_LIMIT = 15 << 26
LOG2_LIMIT = 16384  # knob ranges within +-16 octaves
TONE_LOG2_LIMIT = 1020  # tone band gains < 2.0 (Q13 < 16384)
MAX_DELAY = 4095


class Stage:
    """One stage: kind (int code), knob (int code), p (array('i') params), table (array('h'):
    the file's N + 1 values and the last one again, for the engine's branch-free lookup)."""

    __slots__ = ("kind", "knob", "p", "table")

    def __init__(self, kind, knob, p, table=None):
        self.kind = kind
        self.knob = knob
        self.p = p
        self.table = table


class Pedal:
    """A parsed .pedal: name, rate (Hz), stages, meta (dict key -> str or float)."""

    def __init__(self, name, rate, stages, meta):
        self.name = name
        self.rate = rate
        self.stages = stages
        self.meta = meta


def _knob_max_log2(lo_q, hi_q):
    m = 0
    if lo_q > m:
        m = lo_q
    if hi_q > m:
        m = hi_q
    return m


def check_record(kind, knob, nparams, ntable):
    """None if a stage record's codes and counts can be a stage's, else a reason: what the
    reader checks before it unpacks the parameters, so that a damaged count never makes it
    allocate for thousands of values (a table's length is checked against its size field
    by check_stage, before the table is unpacked)."""
    if kind not in N_PARAMS:
        return "unknown stage kind %d" % kind
    if knob not in KNOB_NAMES:
        return "unknown knob code %d" % knob
    what = KIND_NAMES[kind]
    if nparams != N_PARAMS[kind]:
        return "%s: expected %d parameters, found %d" % (what, N_PARAMS[kind], nparams)
    if kind != TABLE and ntable:
        return "%s: unexpected table" % what
    return None


def check_stage(kind, knob, p, ntable):
    """Return None if the stage parameters are inside the documented bounds, else a reason."""
    why = check_record(kind, knob, len(p), ntable)
    return why if why is not None else check_params(kind, knob, p, ntable)


def _knob_range(what, knob, mant, lo, hi, limit):
    """None, or why a gain-like stage's knob range (lo..hi, log2 x 1024) cannot play: reversed
    (the sanity check's loud corners are the knobs' tops: an audit), or its top taking the
    mantissa ``mant`` past ``limit``."""
    if lo > hi:
        return what + ": knob range reversed (its bottom above its top)"
    if knob and _arith().scale_by_log2(abs(mant), _knob_max_log2(lo, hi)) > limit:
        return what + ": knob range overflows the gain mantissa"
    return None


def check_params(kind, knob, p, ntable):
    """check_stage for a record check_record passed: the parameters' bounds (None or a
    reason)."""
    what = KIND_NAMES[kind]
    if knob not in KNOBS_OF.get(kind, (KNOB_NONE,)):
        return "%s: %s" % (what, "bad knob" if kind in KNOBS_OF else "takes no knob")
    if kind == GAIN:
        m, s, lo, hi = p
        if not (-32767 <= m <= 32767 and 0 <= s <= 30 and abs(lo) <= LOG2_LIMIT
                and abs(hi) <= LOG2_LIMIT):
            return "gain: parameter out of range"
        return _knob_range("gain", knob, m, lo, hi, 32767)
    elif kind == BIQUAD or kind == DCBLOCK:
        b0, b1, b2, a1, a2, k1, k2 = p
        if abs(b0) + abs(b1) + abs(b2) + abs(a1) + abs(a2) > BQ_SUM_LIMIT:
            return what + ": coefficient sum too large"
        if not (-2 <= k1 <= 2 and -1 <= k2 <= 1):
            return what + ": error feedback out of range"
        if not (abs(a2) < Q26_ONE and abs(a1) < Q26_ONE + a2):
            return what + ": unstable poles"
    elif kind == TABLE:
        log2n, gm, gs, off, lo, hi = p
        if not (4 <= log2n <= 10):
            return "table: size out of range"
        if ntable != (1 << log2n) + 1:
            return "table: expected %d values, found %d" % ((1 << log2n) + 1, ntable)
        if not (-65535 <= gm <= 65535 and 2 <= gs <= 30 and abs(off) <= (1 << 29)
                and abs(lo) <= LOG2_LIMIT and abs(hi) <= LOG2_LIMIT):
            return "table: parameter out of range"
        return _knob_range("table", knob, gm, lo, hi, 65535)
    elif kind == ENV_BIAS:
        ca, cr, dm, ds = p
        if not (1 <= ca <= 32767 and 1 <= cr <= 32767 and -32767 <= dm <= 32767
                and 1 <= ds <= 30):
            return "env_bias: parameter out of range"
    elif kind == TAP:
        if not 0 <= p[0] <= 3:
            return "tap: slot out of range"
    elif kind == MIX:
        slot, m, s = p
        if not (0 <= slot <= 3 and -32767 <= m <= 32767 and 0 <= s <= 30):
            return "mix: parameter out of range"
    elif kind == TONE:
        c, lo, hi = p
        if not (1 <= c <= 32767 and abs(lo) <= TONE_LOG2_LIMIT and abs(hi) <= TONE_LOG2_LIMIT):
            return "tone: parameter out of range"
    elif kind == DELAY:
        if not 0 <= p[0] <= MAX_DELAY:
            return "delay: out of range"
    return None


def check_structure(stages):
    """Cross-stage rules: env_bias directly before a table; mix reads a slot tapped earlier;
    the delays together at most MAX_DELAY samples (their ring buffers are the only memory a
    file sizes: 64 long delays in a 900-byte file would ask for 600 KB)."""
    tapped = [False, False, False, False]
    n = len(stages)
    delayed = 0
    for i in range(n):
        st = stages[i]
        if st.kind == DELAY:
            delayed += st.p[0]
            if delayed > MAX_DELAY:
                return "stage %d: the delays add up to more than %d samples" % (i, MAX_DELAY)
        if st.kind == ENV_BIAS and (i + 1 >= n or stages[i + 1].kind != TABLE):
            return "stage %d: env_bias must be followed by a table" % i
        if st.kind == TAP:
            tapped[st.p[0]] = True
        if st.kind == MIX and not tapped[st.p[0]]:
            return "stage %d: mix reads slot %d before any tap" % (i, st.p[0])
    return None


_ARITH = None


def _arith():
    global _ARITH
    if _ARITH is None:
        try:
            from pedalcore import arith
        except ImportError:  # loaded standalone on the host (importlib by path)
            import arith
        _ARITH = arith
    return _ARITH


# Unicode table 3-7, well-formed UTF-8: a lead byte range, how many bytes follow it and the
# range of the first of those (the others are 0x80..0xBF)
_UTF8_LEADS = ((0xC2, 0xDF, 1, 0x80, 0xBF), (0xE0, 0xE0, 2, 0xA0, 0xBF),
               (0xE1, 0xEC, 2, 0x80, 0xBF), (0xED, 0xED, 2, 0x80, 0x9F),
               (0xEE, 0xEF, 2, 0x80, 0xBF), (0xF0, 0xF0, 3, 0x90, 0xBF),
               (0xF1, 0xF3, 3, 0x80, 0xBF), (0xF4, 0xF4, 3, 0x80, 0x8F))


def utf8_ok(b):
    """Is ``b`` well-formed UTF-8 (no overlong forms, surrogates or code points above
    U+10FFFF)? MicroPython's decode lets those through, CPython's refuses them: checked here,
    so that both readers accept the same files."""
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        i += 1
        if c < 0x80:
            continue
        for first, last, k, lo, hi in _UTF8_LEADS:
            if first <= c <= last:
                break
        else:
            return False
        if i + k > n or not lo <= b[i] <= hi:
            return False
        for j in range(i + 1, i + k):
            if not 0x80 <= b[j] <= 0xBF:
                return False
        i += k
    return True


def parse(data, name="pedal"):
    """bytes of a .pedal file -> Pedal; raises ValueError('<name>: <problem>')."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)  # a view: the tables below are read from raw bytes
    n = len(data)
    if n == 0:
        raise ValueError("%s: empty file (not a .pedal model)" % name)
    if n < 4 and bytes(data) == MAGIC[0:n]:
        raise ValueError("%s: truncated (%d byte%s)" % (name, n, "" if n == 1 else "s"))
    if n < 4 or bytes(data[0:4]) != MAGIC:
        raise ValueError("%s: not a .pedal file (bad magic)" % name)
    if n < HEADER_SIZE + 4:
        raise ValueError("%s: truncated (%d bytes)" % (name, n))
    version, hsize, total, rate, nst, _res = struct.unpack_from("<HHIIHH", data, 4)
    if version != VERSION:
        raise ValueError("%s: unsupported format version %d (this firmware reads %d)"
                         % (name, version, VERSION))
    if hsize != HEADER_SIZE:
        raise ValueError("%s: bad header size %d" % (name, hsize))
    if total > MAX_FILE:
        if total == n:
            raise ValueError("%s: too large (%d bytes; a .pedal has at most %d)"
                             % (name, n, MAX_FILE))
        # no .pedal is that large: the size field itself is damaged
        raise ValueError("%s: corrupt header (it says %d bytes; a .pedal has at most %d)"
                         % (name, total, MAX_FILE))
    if total != n:
        if total > n:
            raise ValueError("%s: truncated (%d of %d bytes)" % (name, n, total))
        raise ValueError("%s: size mismatch (%d bytes, header says %d)" % (name, n, total))
    crc = struct.unpack_from("<I", data, n - 4)[0]
    if (crc32(memoryview(data)[0:n - 4]) & 0xFFFFFFFF) != crc:  # (a view: no copy of the file)
        raise ValueError("%s: CRC mismatch (corrupt file)" % name)
    if not (8000 <= rate <= 192000):
        raise ValueError("%s: bad sample rate %d" % (name, rate))
    if nst > MAX_STAGES:
        raise ValueError("%s: too many stages (%d)" % (name, nst))
    pos = HEADER_SIZE
    end = n - 4
    stages = []
    i = last = 0
    try:
        for i in range(nst):
            last = pos
            if pos + STAGE_HEADER_SIZE > end:
                raise ValueError("%s: stage %d: truncated" % (name, i))
            kind, knob, npar, ntab, _r = struct.unpack_from(STAGE_HEADER_FMT, data, pos)
            pos += STAGE_HEADER_SIZE
            if pos + 4 * npar + 2 * ntab > end:
                raise ValueError("%s: stage %d: truncated" % (name, i))
            why = check_record(kind, knob, npar, ntab)
            if why is None:
                p = array("i", struct.unpack_from("<%di" % npar, data, pos))
                pos += 4 * npar
                why = check_params(kind, knob, p, ntab)
            if why is not None:
                raise ValueError("%s: stage %d: %s" % (name, i, why))
            tab = None
            if ntab:
                # straight from the bytes (little-endian, as every target is) and padded with
                # the last value repeated, the form the engine runs: unpacking to a tuple and
                # copying into a padded array held each table three times over, and a model
                # with four tables then ran a Pico's heap out (an audit). One value more is
                # read (the CRC at least follows) and replaced, so the array never grows
                tab = array("h", data[pos:pos + 2 * ntab + 2])
                tab[ntab] = tab[ntab - 1]
                pos += 2 * ntab
            stages.append(Stage(kind, knob, p, tab))
    except ValueError:
        # the metadata where stage i should be: the count is too high (by any amount: a
        # count two too high blamed "stage 20: dcblock" on the metadata, an audit)
        if _meta_or_none(data, last, end) is not None:
            raise ValueError("%s: the header says %d stages, but only %d are there (a stage "
                             "count too high)" % (name, nst, i))
        raise
    why = check_structure(stages)
    if why is not None:
        raise ValueError("%s: %s" % (name, why))
    try:
        meta = _parse_meta(data, pos, end, name)
    except ValueError:
        if _stage_follows(data, pos, end):
            raise ValueError("%s: the header says %d stages, but more follow (a stage count "
                             "too low)" % (name, nst))
        raise
    return Pedal(meta.get(META_NAME, ""), rate, stages, meta)


def _parse_meta(data, pos, end, name):
    """The metadata from ``pos`` to the CRC at ``end``: dict key -> str, float or bytes (a
    later writer's key, never decoded); ValueError('<name>: <problem>')."""
    if pos + 2 > end:
        raise ValueError("%s: truncated metadata" % name)
    nmeta = struct.unpack_from("<H", data, pos)[0]
    pos += 2
    meta = {}
    for k in range(nmeta):
        if pos == end:  # every entry whole, the CRC next: the count is too high
            raise ValueError("%s: the metadata count says %d entries, but only %d are there"
                             % (name, nmeta, k))
        if pos + 4 > end:
            raise ValueError("%s: truncated metadata" % name)
        key, _r, ln = struct.unpack_from(META_ENTRY_FMT, data, pos)
        pos += 4
        if pos + ln > end:
            raise ValueError("%s: truncated metadata" % name)
        raw = bytes(data[pos:pos + ln])
        pos += ln
        if key in META_FLOAT_KEYS:
            if ln != 4:
                raise ValueError("%s: metadata %d: a float takes 4 bytes, not %d" % (name, key, ln))
            meta[key] = struct.unpack("<f", raw)[0]
        elif key in META_TEXT_KEYS:
            if not utf8_ok(raw):
                raise ValueError("%s: metadata %d is not UTF-8" % (name, key))
            meta[key] = raw.decode("utf-8")
        else:  # a later writer's key: kept as it is, never decoded (it may not be text)
            meta[key] = raw
    if pos != end:
        raise ValueError("%s: %d unexpected bytes before the CRC" % (name, end - pos))
    return meta


def _meta_or_none(data, pos, end):
    """The metadata at ``pos`` if it reads whole, else None: a test, for the messages only."""
    try:
        return _parse_meta(data, pos, end, "")
    except ValueError:
        return None


def _stage_follows(data, pos, end):
    """True if a whole stage record of a known kind starts at ``pos``: what a stage count too
    low in the header leaves where the metadata should begin (for the message only)."""
    if pos + STAGE_HEADER_SIZE > end:
        return False
    kind, knob, npar, ntab, _r = struct.unpack_from(STAGE_HEADER_FMT, data, pos)
    return (check_record(kind, knob, npar, ntab) is None
            and pos + STAGE_HEADER_SIZE + 4 * npar + 2 * ntab <= end)


def load(path):
    """Read and parse a file; ValueError names the file. Reads exactly the file's size: a
    read(MAX_FILE + 1) allocates 64 KB up front in MicroPython, which a fragmented RP2040 heap
    (~80 KB free) may not have (docs/latency.md)."""
    import os

    size = os.stat(path)[6]
    if size > MAX_FILE:
        raise ValueError("%s: too large (%d bytes; a .pedal has at most %d)"
                         % (path, size, MAX_FILE))
    with open(path, "rb") as f:
        data = f.read(size)
    return parse(data, path)
