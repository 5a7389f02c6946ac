"""Synthetic oracles for the fit tests: systems whose structure we know exactly."""

import numpy as np
from pedaltool.fit.blocks import BlockModel, NonlinearStage, Section, section_sos
from scipy import signal

RATE = 48000
L2 = np.log2


def peak_sos(f_hz: float, gain_db: float, q: float) -> np.ndarray:
    return section_sos("peak", np.array([np.log2(f_hz), gain_db, np.log2(q)]), RATE)[None, :]


class WienerHammerstein:
    """delay -> pre biquads -> tanh(g (u + bias)) - tanh(g bias) -> post biquads (+ clean)."""

    def __init__(self, delay=4, drive=8.0, bias=0.05, clean=0.0):
        self.delay, self.drive, self.bias, self.clean = delay, drive, bias, clean
        self.pre = np.vstack([peak_sos(700, 9, 0.7),
                              section_sos("hp1", np.array([np.log2(120.0)]), RATE)[None, :]])
        lp = section_sos("lp2", np.array([np.log2(6000.0), -0.5]), RATE)
        # an output coupling capacitor, as every real device has: without it the asymmetric
        # clipping's DC and its slow swings reach the output, which no model with a post
        # high-pass can follow (that alone costs ESR 0.032 on the evaluation DI)
        hp = section_sos("hp2", np.array([np.log2(15.0), -0.5]), RATE)
        self.post = np.vstack([peak_sos(2500, -6, 1.0), lp[None, :], hp[None, :]])
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        x = np.asarray(x, np.float64)
        xd = np.concatenate([np.zeros(self.delay), x])[: len(x)]
        u = signal.sosfilt(self.pre, xd)
        v = np.tanh(self.drive * (u + self.bias)) - np.tanh(self.drive * self.bias)
        v = 0.3 * v + self.clean * xd
        return signal.sosfilt(self.post, v).astype(np.float32)


def known_model() -> BlockModel:
    """hp1 + two peaks -> asymmetric soft clipper (33 knots) -> hp2 + two peaks + lp2."""
    pre = [Section("hp1", np.array([L2(120.0)])),
           Section("peak", np.array([L2(700.0), 9.0, L2(0.7)])),
           Section("peak", np.array([L2(3000.0), -4.0, 0.5]))]
    knots = np.linspace(-1, 1, 33)
    values = 0.3 * (np.tanh(2.5 * (knots + 0.1)) - np.tanh(0.25))
    post = [Section("hp2", np.array([L2(25.0), -0.5])),
            Section("peak", np.array([L2(2500.0), -6.0, 0.0])),
            Section("peak", np.array([L2(300.0), 4.0, 0.0])),
            Section("lp2", np.array([L2(6000.0), -0.5]))]
    return BlockModel(RATE, 0, [NonlinearStage(pre, 0.8, values)], post, structure="wh")
