"""initlab: choose, apply, check and compare weight initializations for PyTorch models.

Layers (each uses only those before it):
    schemes (tensor) -> policy (model: plan, apply, verify) -> diagnostics
    -> experiments (data, trainers, store, statistics) -> reports -> cli / web
"""
from .errors import InitError
from .schemes import *  # noqa: F401,F403
from .schemes import __all__ as _scheme_names

__version__ = "0.1.0"
__all__ = ["InitError", "__version__"] + list(_scheme_names)
from .experiments.reproduce import reproduce  # noqa: E402
__all__ += ["reproduce"]
from .experiments.compare import compare  # noqa: E402
__all__ += ["compare"]
from .policy import Plan, Rule, freeze, init_, keep, list_policies, plan  # noqa: E402
__all__ += ["plan", "init_", "Plan", "Rule", "keep", "freeze", "list_policies"]
from .experiments.double_descent import double_descent  # noqa: E402
__all__ += ["double_descent"]
from .diagnostics import Diagnosis, diagnose  # noqa: E402
__all__ += ["diagnose", "Diagnosis"]
