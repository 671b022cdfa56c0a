"""A plan checks scheme arguments by running the scheme up to its first write (schemes/dryrun.py)."""
import pytest
import torch

import initlab
from initlab.schemes.dryrun import check_arguments


def _writes_then_fails(how):
    def fn(tensor, generator=None):
        how(tensor)
        raise AssertionError("ran past its first write")
    return fn


@pytest.mark.parametrize("how", [lambda t: t.normal_(), lambda t: t.fill_(1.0), lambda t: t.__setitem__(0, 1.0),
                                 lambda t: t.__imul__(2.0), lambda t: torch.add(t, 1, out=t),
                                 lambda t: torch.empty(3, 3).uniform_()])
def test_stops_at_the_first_write_of_any_kind(how):
    check_arguments(_writes_then_fails(how), (3, 3), {})


def test_checks_before_the_write_raise():
    def fn(tensor, std=1.0, generator=None):
        if std < 0:
            raise initlab.InitError(f"fn: std={std} is not allowed")
        return tensor.normal_(0, std)
    check_arguments(fn, (4, 4), {"std": 1.0})
    with pytest.raises(initlab.InitError, match="std=-1"):
        check_arguments(fn, (4, 4), {"std": -1.0})


@pytest.mark.parametrize("scheme, kwargs, match", [
    ("normal", {"std": -1.0}, "std"),
    ("kaiming_normal", {"nonlinearity": "bogus"}, "nonlinearity"),
    ("uniform", {"a": 1.0, "b": 0.0}, "a <= b"),
    ("trunc_normal", {"std": 0.0}, "std"),
    ("orthogonal", {"gain": float("nan")}, "gain"),
])
def test_a_plan_refuses_what_the_scheme_refuses_without_drawing(scheme, kwargs, match):
    m = torch.nn.Linear(8, 4)
    before = m.weight.detach().clone()
    state = torch.get_rng_state()
    with pytest.raises(initlab.InitError, match=match):
        initlab.plan(m, (scheme, kwargs))
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(m.weight, before)


def test_describing_every_builtin_scheme_draws_nothing():
    state = torch.get_rng_state()
    for s in initlab.registered_schemes():
        shape = (6, 4, 3) if s.name == "dirac" else (6, 4)
        law = s.describe(shape, **{"constant": {"val": 0.5}, "sparse": {"sparsity": 0.5}}.get(s.name, {}))
        assert law is None or isinstance(law, dict)
    assert torch.equal(torch.get_rng_state(), state)
