"""Tensors as they come from models: non-contiguous views and nn.Parameters (requires_grad)."""
import pytest
import torch

from ._cases import DEFAULT_ARGS, builtins, fits, takes_generator


def _call(scheme, t, seed=0):
    kw = dict(DEFAULT_ARGS[scheme.name])
    if takes_generator(scheme):
        kw["generator"] = torch.Generator().manual_seed(seed)
    return scheme(t, **kw)


def _shape(scheme):
    return next(s for s in [(24, 16), (24, 16, 3), (8, 6, 3, 3)] if fits(scheme, s))


@pytest.mark.parametrize("scheme", builtins(), ids=lambda s: s.name)
def test_non_contiguous_view_is_filled_in_place(scheme):
    shape = _shape(scheme)
    base = torch.full(tuple(reversed(shape)), float("nan"))
    view = base.permute(*reversed(range(len(shape))))      # e.g. a transposed weight
    assert not view.is_contiguous()
    out = _call(scheme, view)
    assert out is view and view.shape == shape
    assert torch.isfinite(base).all(), "every entry of the underlying storage is written"
    ref = _call(scheme, torch.empty(shape))
    if scheme.kind == "deterministic" or scheme.name == "orthogonal":
        # same values at the same logical positions (orthogonal draws a separate matrix first)
        assert torch.equal(view, ref)
    else:
        assert float(view.std()) == pytest.approx(float(ref.std()), rel=0.5)


@pytest.mark.parametrize("scheme", builtins(), ids=lambda s: s.name)
def test_parameter_is_initialized_without_autograd_history(scheme):
    p = torch.nn.Parameter(torch.full(_shape(scheme), float("nan")))
    out = _call(scheme, p)
    assert out is p and p.requires_grad and p.grad_fn is None and p.is_leaf
    assert torch.isfinite(p).all()
    (p * 2).sum().backward()                                   # still a usable leaf
    assert torch.equal(p.grad, torch.full_like(p, 2.0))


@pytest.mark.parametrize("scheme", builtins(), ids=lambda s: s.name)
def test_meta_tensor_is_a_no_op(scheme):
    """Deferred init (a model built on device='meta'): like torch.nn.init, nothing to draw, no error
    (trunc_normal_ used to call .item() on it), and the global RNG is not touched."""
    torch.manual_seed(0)
    state = torch.get_rng_state()
    t = torch.empty(_shape(scheme), device="meta")
    kw = dict(DEFAULT_ARGS[scheme.name])
    out = scheme(t, **kw)
    assert out is t and t.is_meta
    assert torch.equal(torch.get_rng_state(), state)
