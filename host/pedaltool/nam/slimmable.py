"""SlimmableContainer (``NAM/container.cpp``): several complete models of increasing size.

``slim`` (0..1, the plugin's Slim knob) picks the first submodel with ``slim < max_value``;
without a value the container uses the last (full-size) submodel, as Core does until
``SetSlimmableSize`` is called. (Slimmable *WaveNets* — channel slicing — live in wavenet.py.)
"""

from __future__ import annotations

from pedaltool.nam.dsp import Dsp, build_dsp, register
from pedaltool.nam.file import Cfg, ConfigError, NamDocument, parse_document


def select_submodel(max_values: list[float], slim: float | None) -> int:
    """Index of the submodel Core activates for knob value ``slim`` (None = full size)."""
    if slim is None:
        return len(max_values) - 1
    for i, mv in enumerate(max_values):
        if slim < mv:
            return i
    return len(max_values) - 1


class Container(Dsp):
    architecture = "SlimmableContainer"

    def __init__(self, active: Dsp, index: int, max_values: list[float], archs: list[str],
                 num_params: int):
        self.active = active
        self.index = index
        self.max_values = max_values
        self.archs = archs
        for k in ("in_channels", "out_channels", "receptive_field", "prewarm_samples",
                  "macs_per_sample"):
            setattr(self, k, getattr(active, k))
        self.num_params = num_params

    def describe(self) -> dict:
        return {"submodels": [{"max_value": mv, "architecture": a}
                              for mv, a in zip(self.max_values, self.archs, strict=True)],
                "active_submodel": self.index, "active": self.active.describe()}

    def fresh_state(self) -> object:
        return self.active.fresh_state()

    def process(self, state, x):
        return self.active.process(state, x)

    def copy_state(self, state):
        return self.active.copy_state(state)


@register("SlimmableContainer")
def load_container(doc: NamDocument, slim: float | None = None) -> Container:
    c = Cfg(doc.config, f"{doc.where}.config" if doc.where else "config")
    subs = c.raw("submodels")
    if not isinstance(subs, list) or not subs:
        raise ConfigError(c.key("submodels"), "expected a non-empty list")
    max_values, docs = [], []
    for i, entry in enumerate(subs):
        e = Cfg(entry, f"{c.key('submodels')}[{i}]")
        max_values.append(e.float("max_value"))
        sub = parse_document(e.raw("model"), e.key("model"))
        if (sub.sample_rate is not None and doc.sample_rate is not None
                and sub.sample_rate != doc.sample_rate):
            raise ConfigError(e.key("model.sample_rate"), f"{sub.sample_rate} differs from the "
                              f"container's {doc.sample_rate}")
        docs.append(sub)
    for i in range(1, len(max_values)):
        if max_values[i] <= max_values[i - 1]:
            raise ConfigError(c.key("submodels"), "must be sorted by ascending max_value")
    if max_values[-1] < 1.0:
        raise ConfigError(c.key("submodels"), "the last max_value must be >= 1.0")
    if len(doc.weights):
        raise ConfigError("weights", f"expected 0 floats for a SlimmableContainer, found "
                          f"{len(doc.weights)}")
    # Build every submodel so a broken one is reported even if it is not the active one.
    dsps = [build_dsp(d) for d in docs]
    idx = select_submodel(max_values, slim)
    total = sum(d.num_params for d in dsps)
    return Container(dsps[idx], idx, max_values, [d.architecture for d in docs], total)
