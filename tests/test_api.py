"""The public API surface (issue 17): the schemes subpackage, one spelling for names, clean __all__, docstrings."""
import importlib
import inspect
import re
import types
import warnings

import pytest

import initlab

# (initlab.diagnostics and initlab.experiments are checked by their own suites)
PACKAGES = ["initlab", "initlab.schemes", "initlab.policy", "initlab.data", "initlab.models", "initlab.reports"]


def test_schemes_is_the_subpackage_and_its_functions_are_reachable():
    assert isinstance(initlab.schemes, types.ModuleType)
    assert initlab.schemes.kaiming_normal_ is initlab.kaiming_normal_
    import initlab.schemes as via_import
    assert via_import is initlab.schemes
    from initlab.schemes import registered_schemes, xavier_uniform_  # noqa: F401
    assert [s.name for s in initlab.registered_schemes()] == initlab.list_schemes()


def test_the_old_listing_function_still_works_with_a_deprecation_warning():
    for old in (initlab.schemes, initlab.schemes.schemes):    # initlab.schemes() and from initlab.schemes import schemes
        with pytest.warns(DeprecationWarning, match="registered_schemes"):
            assert old() == initlab.registered_schemes()


def test_top_level_names_match_the_subpackages():
    assert list(initlab._SCHEME_NAMES) == list(initlab.schemes.__all__)
    for name in initlab.__all__:
        assert getattr(initlab, name) is not None, name
    assert set(initlab.__all__) <= set(dir(initlab))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        initlab.nope  # noqa: B018


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_in_all_and_every_public_class_has_a_docstring(package):
    mod = importlib.import_module(package)
    for name in mod.__all__:
        obj = getattr(mod, name)
        assert not isinstance(obj, types.ModuleType) or name in initlab._SUBMODULES, f"{package}.__all__: {name}"
        if inspect.isclass(obj):
            doc = (obj.__doc__ or "").strip()
            # a dataclass without a docstring gets "Name(field, ...)" written for it: not documentation
            assert doc and not doc.startswith(obj.__name__ + "("), f"{package}.{name} has no docstring"


def test_scheme_names_are_underscored_and_hyphens_are_aliases():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s in initlab.registered_schemes():
            for n in (s.name, *s.aliases):
                assert re.fullmatch(r"[a-z][a-z0-9_]*", n), n
                assert initlab.get_scheme(n.replace("_", "-")) is s
                assert initlab.get_scheme(n.upper()) is s


def test_policy_names_are_underscored_and_hyphens_still_resolve():
    from initlab.policy import resolve
    names = initlab.list_policies()
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names), names
    for n in names:
        assert resolve(n) is resolve(n.replace("_", "-"))
    assert "torch_default" in names and "zero_init_residual" in names


def test_plan_help_lists_the_policies_as_list_policies_spells_them(capsys):
    from initlab.cli.main import main
    assert main(["plan", "--help"]) == 0
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("Policies:"))
    listed = [n.strip() for n in line.removeprefix("Policies:").split(",") if n.strip()]
    assert listed == initlab.list_policies()


def test_a_seed_torch_cannot_take_is_an_initerror_naming_it():
    import torch
    m = torch.nn.Linear(3, 3)
    initlab.init_(m, "auto", seed=2 ** 64 - 1)                 # the largest seed torch.Generator takes
    with pytest.raises(initlab.InitError, match=r"seed=18446744073709551616 .* 2\*\*64 - 1"):
        initlab.plan(m, "auto", seed=2 ** 64)
