"""initlab: choose, apply, check and compare weight initializations for PyTorch models.

Layers (each uses only those before it):
    schemes (tensor) -> policy (model: plan, apply, verify) -> diagnostics
    -> experiments (data, trainers, store, statistics) -> reports -> cli

Every public name is imported on first use (PEP 562), so `import initlab` costs
nothing beyond Python itself, and `initlab --help` does not even import torch;
`initlab.init_` imports the policy layer, `initlab.compare` the experiments.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import InitError

__version__ = "0.1.0"

# The scheme functions re-exported at the top level (the same list as initlab.schemes.__all__; a test checks).
_SCHEME_NAMES = (
    "uniform_", "normal_", "constant_", "ones_", "zeros_", "trunc_normal_", "centered_uniform_",
    "inverse_fan_uniform_", "general_rule_uniform_", "general_rule_normal_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "lecun_uniform_", "lecun_normal_", "variance_scaling_",
    "orthogonal_", "eye_", "dirac_", "sparse_", "zero_init_", "hadamard", "zero_matrix",
    "calculate_gain", "calculate_fan_in_and_fan_out", "fans_from_shape",
    "Scheme", "get_scheme", "list_schemes", "register_scheme", "registered_schemes",
)
# name -> module it comes from (relative to this package)
_LAZY = {**{n: ".schemes" for n in _SCHEME_NAMES},
         **{n: ".policy" for n in ("plan", "init_", "Plan", "Rule", "keep", "freeze", "list_policies",
                                   "register_module", "unregister_module")},
         "diagnose": ".diagnostics", "Diagnosis": ".diagnostics",
         "compare": ".experiments.compare",
         # the experiments return data; these two compose the figures from reports/ on top (layering)
         "double_descent": ".reports.dd_plots", "reproduce": ".reports.reproduce_plots"}
# subpackages reachable as attributes (initlab.schemes is the package, not a function)
_SUBMODULES = ("schemes", "policy", "diagnostics", "data", "models", "experiments", "reports")

__all__ = (["InitError", "__version__"] + list(_SCHEME_NAMES)
           + ["plan", "init_", "Plan", "Rule", "keep", "freeze", "list_policies", "register_module",
              "unregister_module", "diagnose", "Diagnosis",
              "compare", "double_descent", "reproduce", "schemes", "data", "models", "reports"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'initlab' has no attribute {name!r}")
    globals()[name] = value   # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


if TYPE_CHECKING:   # what the names are, for type checkers and editors (never executed)
    from . import data, diagnostics, experiments, models, policy, reports, schemes  # noqa: F401
    from .diagnostics import Diagnosis, diagnose  # noqa: F401
    from .experiments.compare import compare  # noqa: F401
    from .reports.dd_plots import double_descent  # noqa: F401
    from .reports.reproduce_plots import reproduce  # noqa: F401
    from .policy import (Plan, Rule, freeze, init_, keep, list_policies, plan,  # noqa: F401
                         register_module, unregister_module)
    from .schemes import *  # noqa: F401,F403
