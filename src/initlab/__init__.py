"""initlab: choose, apply, check and compare weight initializations for PyTorch models.

Layers (each uses only those before it):
    schemes (tensor) -> policy (model: plan, apply, verify) -> diagnostics
    -> experiments (data, trainers, store, statistics) -> reports -> cli
"""
from .errors import InitError
from .schemes import *  # noqa: F401,F403  (layer 1: tensor-level schemes)
from .schemes import __all__ as _scheme_names
from .policy import Plan, Rule, freeze, init_, keep, list_policies, plan  # layer 2: model level
from .diagnostics import Diagnosis, diagnose  # layer 3
from . import data, models  # noqa: F401  (data sets and the model zoo used by experiments)
from .experiments.compare import compare  # layer 4: experiments
from .experiments.double_descent import double_descent
from .experiments.reproduce import reproduce
from . import reports  # noqa: F401  layer 5 (matplotlib is imported only when plotting)

__version__ = "0.1.0"
__all__ = (["InitError", "__version__"] + list(_scheme_names)
           + ["plan", "init_", "Plan", "Rule", "keep", "freeze", "list_policies", "diagnose", "Diagnosis",
              "compare", "double_descent", "reproduce", "data", "models", "reports"])
