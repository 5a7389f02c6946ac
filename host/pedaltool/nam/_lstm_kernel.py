"""The LSTM recurrence compiled with numba (imported only when numba is available).

float32 throughout, like NeuralAmpModelerCore's LSTM (the pure-numpy path in ``lstm.py`` uses
float64; the two agree to ~3e-7, float32 rounding). Module-level functions so numba's on-disk
cache works across processes.

exp(x) = 2^k * e^r with |r| <= ln2/2: Cody-Waite reduction (cephes constants) and a degree-7
Taylor polynomial, relative error <= 6e-8 over [-87, 87] (measured; float32 eps is 1.2e-7).
Written out so LLVM vectorises it: libm's scalar exp/tanh made the recurrence 3x slower
(``benchmarks/bench_nam.py``). sigmoid(v) = 1 / (1 + exp(-v)); tanh(v) = sign(v) * (1 - e) /
(1 + e) with e = exp(-2|v|): both exact functions, not the plugin's fast_tanh.
"""

import math

import numba
import numpy as np

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_C = [np.float32(1.0 / math.factorial(i)) for i in range(8)]
_C2, _C3, _C4, _C5, _C6, _C7 = _C[2:]
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)
_LO = np.float32(-87.0)
_HI = np.float32(87.0)


@numba.njit(inline="always")
def _exp_into(u, e, kbits, n):
    fb = kbits.view(np.float32)
    for j in range(n):
        x = min(max(u[j], _LO), _HI)
        k = math.floor(x * _LOG2E + np.float32(0.5))
        r = (x - k * _LN2_HI) - k * _LN2_LO
        p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (
            _C6 + r * _C7))))))
        kbits[j] = (np.int32(k) + 127) << 23
        e[j] = p
    for j in range(n):
        e[j] *= fb[j]


@numba.njit(cache=True)
def lstm_layer(xin, w_in, w_hh, b, h, c, out):
    """Advance one layer over T samples. xin (T, I); w_in (I, 4H); w_hh (H, 4H) (transposed so
    the inner loops are contiguous); b (4H); h, c (H) updated in place; out (T, H)."""
    T, n_in = xin.shape
    H = h.shape[0]
    G = 4 * H
    z = np.empty(G, np.float32)
    u = np.empty(G, np.float32)
    e = np.empty(G, np.float32)
    kb = np.empty(G, np.int32)
    for t in range(T):
        for j in range(G):
            z[j] = b[j]
        for k in range(n_in):
            xv = xin[t, k]
            for j in range(G):
                z[j] += w_in[k, j] * xv
        for k in range(H):
            hv = h[k]
            for j in range(G):
                z[j] += w_hh[k, j] * hv
        for j in range(G):
            u[j] = -z[j]
        for j in range(2 * H, 3 * H):
            u[j] = -_TWO * abs(z[j])
        _exp_into(u, e, kb, G)
        for j in range(H):
            ig = _ONE / (_ONE + e[j])
            fg = _ONE / (_ONE + e[H + j])
            eg = e[2 * H + j]
            gg = math.copysign((_ONE - eg) / (_ONE + eg), z[2 * H + j])
            og = _ONE / (_ONE + e[3 * H + j])
            cj = fg * c[j] + ig * gg
            c[j] = cj
            u[j] = -_TWO * abs(cj)
            z[j] = og
        _exp_into(u, e, kb, H)
        for j in range(H):
            ec = e[j]
            hj = z[j] * math.copysign((_ONE - ec) / (_ONE + ec), c[j])
            h[j] = hj
            out[t, j] = hj
