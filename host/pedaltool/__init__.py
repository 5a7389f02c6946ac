"""pedaltool: Neural Amp Modeler captures -> tiny block models for MicroPython pedals."""

__version__ = "0.1.0"
