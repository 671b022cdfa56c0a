"""Diagnose an initialization before training: per-layer signal propagation, verdicts, fixes and plots.

    >>> d = initlab.diagnose(model, inputs)          # one forward + one backward pass
    >>> d.healthy, d.kinds
    >>> print(d.table()); d.plot("diagnosis.png"); json.dumps(d.to_dict())

Layer 3 of initlab (uses schemes and models; the CLI's `initlab diagnose` uses it).
Thresholds: `initlab.diagnostics.thresholds`; verdict kinds: `initlab.diagnostics.verdicts`.
"""
from .core import diagnose
from .diagnosis import Diagnosis, LayerStat, ParamStat
from .thresholds import DEFAULT_THRESHOLDS, Thresholds
from .verdicts import KINDS, Verdict

__all__ = ["diagnose", "Diagnosis", "LayerStat", "ParamStat", "Verdict", "Thresholds", "DEFAULT_THRESHOLDS", "KINDS"]
