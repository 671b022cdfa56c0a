"""Model-level initialization: policies as data, an explainable plan, pretrained-safe apply, `auto`.

    plan(model, policy="auto", *, example_inputs=None, seed=None, bias=None, keep=None) -> Plan   (pure)
    init_(model, policy="auto", **same) -> Plan                                                (writes)
    Plan.apply(model), Plan.verify(model) -> list[str], Plan.to_dict(), print(plan)
    Rule(scheme, kwargs=None, *, type=None, name=None, param=None)
    keep(module), freeze(module), list_policies()
    register_module(cls, family, fan="out_in" | "in_out")   tell auto & co what a custom module is (families.py)
"""
from .api import init_, list_policies, plan, resolve
from .auto import Auto, auto
from .base import RulesPolicy, SchemePolicy
from .families import register_module, unregister_module
from .keep import freeze, keep
from .plans import Plan, Row
from .hf_presets import BERT
from .presets import GPT2, LSUV, PRESETS, Fixup, TorchDefault, ZerO
from .rules import Rule

__all__ = ["plan", "init_", "Plan", "Row", "Rule", "keep", "freeze", "list_policies", "resolve", "Auto", "auto",
           "TorchDefault", "GPT2", "Fixup", "ZerO", "LSUV", "BERT", "SchemePolicy", "RulesPolicy", "PRESETS",
           "register_module", "unregister_module"]
