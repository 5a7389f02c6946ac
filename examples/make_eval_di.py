"""Write examples/eval_di.wav: the project's evaluation DI (48 kHz, 32-bit float, mono).

Run from the repository root: ``python examples/make_eval_di.py``. The file is regenerated
bit-identically by ``pedaltool.signals.evaluation_di()`` (tests/test_signals.py checks it).
"""

from pathlib import Path

from pedaltool.audio import write_wav
from pedaltool.signals import evaluation_di

OUT = Path(__file__).resolve().parent / "eval_di.wav"

if __name__ == "__main__":
    write_wav(OUT, evaluation_di(48000), 48000)
    print(f"wrote {OUT}")
