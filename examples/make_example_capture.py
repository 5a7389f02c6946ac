"""Regenerate the bundled capture examples/diode_clipper.nam (dev-only; pedaltool does not need it).

What it does:
1. makes ~88 s of training audio with pedaltool.signals (plucked-string DI with fitting seeds at
   three levels, exponential sweeps at four levels, pink noise at four levels, a multisine and
   pink level steps), plus a held-out validation DI (another fitting seed), never the
   evaluation DI;
2. runs it through the circuit simulation in examples/diode_clipper.py;
3. trains a small WaveNet (the A1 "nano" layout: 4/2 channels, kernel 3, dilations 1..512, tanh)
   with the official trainer ``neural-amp-modeler`` (PyTorch Lightning, CPU, one thread);
4. exports examples/diode_clipper.nam with metadata (name, gear/tone type, modeled_by,
   input_level_dbu 12, output_level_dbu 12, training.validation_esr) and prints the ESR of the
   trained model against the circuit on the held-out DI and on the evaluation DI.

Run from the repository root (about 20 CPU-minutes: 40 epochs of ~29 s on one core)::

    pip install torch==2.13.0          # first: the CPU wheel (unpinned torch pulls gigabytes)
    pip install neural-amp-modeler==0.13.0
    nice -n 10 python examples/make_example_capture.py [--epochs N] [--out PATH]

Extra packages: torch, neural-amp-modeler (which brings pytorch_lightning). Deterministic up to
PyTorch's CPU kernels (seeded).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import diode_clipper  # noqa: E402
from pedaltool import signals  # noqa: E402

RATE = 48000
GAP = np.zeros(RATE // 10, dtype=np.float32)  # 100 ms of silence between segments

#: A1 "nano": array 0 has 4 channels, head 2, dilations 1..64; array 1 has 2 channels, head 1,
#: dilations 128, 256, 512, 1..512. Receptive field 4093 samples, 842 parameters.
NANO_LAYERS = [
    {"input_size": 1, "condition_size": 1, "channels": 4, "kernel_size": 3,
     "dilations": [1, 2, 4, 8, 16, 32, 64], "activation": "Tanh", "gated": False,
     "head": {"out_channels": 2, "kernel_size": 1, "bias": False}},
    {"input_size": 4, "condition_size": 1, "channels": 2, "kernel_size": 3,
     "dilations": [128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
     "activation": "Tanh", "gated": False,
     "head": {"out_channels": 1, "kernel_size": 1, "bias": True}},
]

METADATA = {
    "name": "pedaltool diode clipper",
    "modeled_by": "pedaltool",
    "gear_type": "pedal",
    "gear_make": "pedaltool",
    "gear_model": "diode clipper (circuit simulation)",
    "tone_type": "overdrive",
    "input_level_dbu": 12.0,
    "output_level_dbu": 12.0,
}


def training_input() -> np.ndarray:
    """~88 s of fitting signals at 48 kHz (never the evaluation DI)."""
    parts = [
        signals.fitting_di(RATE, 30.0, seed=101),
        signals.fitting_di(RATE, 20.0, seed=102, level_scale=2.0),  # a hot pickup
        signals.fitting_di(RATE, 10.0, seed=103, level_scale=0.5),  # a weak one
    ]
    for level in (0.03, 0.1, 0.3, 0.6):
        parts.append(signals.exp_sweep(30.0, 20000.0, 3.0, RATE, level).signal)
    for rms in (-40.0, -30.0, -20.0, -12.0):
        parts.append(signals.pink_noise(RATE, 2.0, rms, seed=int(50 - rms)))
    parts.append(signals.multisine(RATE, 4.0, 30.0, 16000.0, -24.0, seed=31))
    levels = tuple(float(v) for v in range(-48, 1, 6))
    parts.append(signals.level_steps(RATE, levels, 0.3, 0.05, kind="pink", seed=41).samples)
    out = [GAP]
    for p in parts:
        out += [p.astype(np.float32), GAP]
    return np.concatenate(out)


def validation_input() -> np.ndarray:
    """10 s held-out plucked DI (its own seed), preceded by silence as the trainer requires."""
    return np.concatenate([np.zeros(RATE // 2, np.float32),
                           signals.fitting_di(RATE, 10.0, seed=104)])


def esr(pred: np.ndarray, target: np.ndarray) -> float:
    """mean((pred - target)^2) / mean(target^2), float64."""
    p, t = np.asarray(pred, float), np.asarray(target, float)
    return float(np.mean((p - t) ** 2) / np.mean(t * t))


def train(epochs: int, out_path: Path, workdir: Path) -> dict:
    import pytorch_lightning as pl
    import torch
    from nam.data import Dataset
    from nam.models.metadata import UserMetadata
    from nam.train.lightning_module import LightningModule
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    torch.manual_seed(0)
    pl.seed_everything(0, workers=True)

    t0 = time.time()
    x_tr = training_input()
    y_tr = diode_clipper.process(x_tr, RATE)
    x_va = validation_input()
    y_va = diode_clipper.process(x_va, RATE)
    print(f"data: train {x_tr.size / RATE:.1f} s, validation {x_va.size / RATE:.1f} s "
          f"({time.time() - t0:.1f} s to make)", flush=True)

    model_config = {
        "net": {"name": "WaveNet", "config": {"layers_configs": NANO_LAYERS, "head_scale": 0.02}},
        "loss": {"val_loss": "esr", "mrstft_weight": 2e-4},
        "optimizer": {"lr": 0.004},
        "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.993}},
    }
    model = LightningModule.init_from_config(model_config)
    nx = model.net.receptive_field
    ds_tr = Dataset(torch.tensor(x_tr), torch.tensor(y_tr), nx, 8192, sample_rate=RATE,
                    require_input_pre_silence=None)
    ds_va = Dataset(torch.tensor(x_va), torch.tensor(y_va), nx, None, sample_rate=RATE,
                    require_input_pre_silence=None)
    model.net.sample_rate = RATE
    for ds in (ds_tr, ds_va):
        ds.handshake(model.net)
        model.net.handshake(ds)
    dl_tr = DataLoader(ds_tr, batch_size=16, shuffle=True, drop_last=True, num_workers=0)
    dl_va = DataLoader(ds_va, batch_size=1, num_workers=0)
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=workdir, monitor="val_loss", save_top_k=1,
                                        filename="best")
    class PrintEpoch(pl.Callback):
        def on_validation_epoch_end(self, trainer, module):
            val = trainer.callback_metrics.get("val_loss")
            if val is not None and not trainer.sanity_checking:
                print(f"epoch {trainer.current_epoch + 1}/{epochs}: validation ESR "
                      f"{float(val):.4f} ({time.time() - t0:.0f} s)", flush=True)

    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                         default_root_dir=workdir, callbacks=[ckpt, PrintEpoch()], logger=False,
                         enable_progress_bar=False, deterministic=True)
    trainer.fit(model, dl_tr, dl_va)
    best = LightningModule.load_from_checkpoint(
        ckpt.best_model_path, **LightningModule.parse_config(model_config))
    best.cpu().eval()
    best.net.sample_rate = RATE
    print(f"trained {epochs} epochs in {time.time() - t0:.0f} s", flush=True)

    with torch.no_grad():
        pred_va = best.net(torch.tensor(x_va)[None], pad_start=True)[0].numpy()
    val_esr = esr(pred_va[RATE // 2:], y_va[RATE // 2:])

    export_dir = workdir / "export"
    export_dir.mkdir(exist_ok=True)
    best.net.export(export_dir, basename="model", user_metadata=UserMetadata(**METADATA),
                    other_metadata={"training": {"validation_esr": val_esr}})
    shutil.copyfile(export_dir / "model.nam", out_path)

    x_ev = signals.evaluation_di(RATE)
    y_ev = diode_clipper.process(x_ev, RATE)
    with torch.no_grad():
        pred_ev = best.net(torch.tensor(x_ev)[None], pad_start=True)[0].numpy()
    return {"epochs": epochs, "validation_esr": val_esr, "evaluation_esr": esr(pred_ev, y_ev),
            "seconds": time.time() - t0, "parameters": sum(p.numel() for p in
                                                         best.net.parameters())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=HERE / "diode_clipper.nam")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = train(args.epochs, args.out, Path(tmp))
    report["file_bytes"] = args.out.stat().st_size
    print(json.dumps(report, indent=2))
    if not math.isfinite(report["evaluation_esr"]) or report["evaluation_esr"] > 0.05:
        print("warning: ESR against the circuit above 0.05", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
