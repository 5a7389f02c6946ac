"""The SIMD pin that makes fits reproducible across x86-64 CPUs (pedaltool.simd_level)."""

import json
import os
import platform
import subprocess
import sys

from pedaltool.simd_level import cpu_flags, describe, pin_settings

V3 = frozenset({"sse2", "avx", "avx2", "fma", "bmi2"})
V4 = V3 | {"avx512f", "avx512bw"}


def test_pins_openblas_on_x86_64_v3_and_numpy_too_with_avx512():
    assert pin_settings("x86_64", V3, {}, numpy_loaded=False) == {"OPENBLAS_CORETYPE": "Haswell"}
    got = pin_settings("x86_64", V4, {}, numpy_loaded=False)
    assert got["OPENBLAS_CORETYPE"] == "Haswell"
    disabled = got["NPY_DISABLE_CPU_FEATURES"].split()
    assert "X86_V4" in disabled and "AVX512_SKX" in disabled  # numpy >= 2.4 and older names
    assert "X86_V3" not in disabled and "AVX2" not in disabled


def test_leaves_other_machines_and_cpus_below_v3_alone():
    assert pin_settings("aarch64", V4, {}, numpy_loaded=False) == {}
    assert pin_settings("x86_64", frozenset({"sse2", "avx"}), {}, numpy_loaded=False) == {}
    assert pin_settings("x86_64", frozenset(), {}, numpy_loaded=False) == {}  # flags unknown


def test_never_overrides_the_user_and_can_be_opted_out():
    mine = {"OPENBLAS_CORETYPE": "SkylakeX"}
    assert pin_settings("x86_64", V4, mine, numpy_loaded=False).keys() == {
        "NPY_DISABLE_CPU_FEATURES"}
    assert pin_settings("x86_64", V4, {"PEDALTOOL_NATIVE_SIMD": "1"}, numpy_loaded=False) == {}
    assert pin_settings("x86_64", V4, {"PEDALTOOL_NATIVE_SIMD": "0"}, numpy_loaded=False)


def test_sets_nothing_once_numpy_is_loaded():
    # the parent would keep its kernels while spawned workers took the pinned ones
    assert pin_settings("x86_64", V4, {}, numpy_loaded=True) == {}


def _libraries_in_a_fresh_process(env_extra: str) -> str:
    code = (f"import os; {env_extra}; import pedaltool, numpy, scipy.linalg, json, os; "
            "from threadpoolctl import threadpool_info; "
            "print(json.dumps([os.environ.get('OPENBLAS_CORETYPE'), "
            "sorted({i.get('architecture') for i in threadpool_info()})]))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


def test_importing_pedaltool_first_pins_every_openblas_it_loads():
    want = pin_settings(platform.machine(), cpu_flags(), {}, numpy_loaded=False)
    coretype, archs = json.loads(_libraries_in_a_fresh_process(
        "os.environ.pop('OPENBLAS_CORETYPE', None); os.environ.pop('PEDALTOOL_NATIVE_SIMD', None)"))
    if want:  # this machine is x86-64-v3 or above: numpy's and scipy's OpenBLAS both pinned
        assert coretype == "Haswell" and archs == ["Haswell"]
    else:
        assert coretype is None


def test_this_test_process_runs_the_pinned_kernels_where_the_cpu_allows():
    # conftest imports pedaltool before numpy, as the CLI does
    pinnable = bool(pin_settings(platform.machine(), cpu_flags(), {}, numpy_loaded=False))
    native = os.environ.get("PEDALTOOL_NATIVE_SIMD", "") not in ("", "0")
    pinned = describe().startswith("x86-64-v3 (pinned), OpenBLAS Haswell")
    assert pinned == (pinnable and not native)
