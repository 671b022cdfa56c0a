"""diagnose leaves the model exactly as it was: parameters, .grad, modes, buffers, RNG, hooks."""
import pytest
import torch
from torch import nn

from initlab.diagnostics import diagnose
from initlab.models import build_model, example_inputs


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.fixture
def bn_dropout_model():
    torch.manual_seed(0)
    model = build_model("mlp:32-64-64-10:relu:dropout=0.5:bn")
    return model, example_inputs(model, 64)


def test_parameters_and_buffers_unchanged(bn_dropout_model):
    model, x = bn_dropout_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buffer_ids = {n: id(b) for n, b in model.named_buffers()}
    diagnose(model, x)                       # train mode: BatchNorm would update running stats
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert {n: id(b) for n, b in model.named_buffers()} == buffer_ids
    assert int(model[1].num_batches_tracked) == 0


def test_grad_none_stays_none_and_existing_grads_are_untouched(bn_dropout_model):
    model, x = bn_dropout_model
    params = list(model.parameters())
    assert all(p.grad is None for p in params)
    diagnose(model, x)
    assert all(p.grad is None for p in params)
    # now with some existing .grad tensors (and one left None)
    for p in params[:-1]:
        p.grad = torch.full_like(p, 0.25)
    grads = [p.grad for p in params]
    diagnose(model, x)
    for p, g in zip(params, grads):
        assert p.grad is g                   # the very same tensor object ...
    for p in params[:-1]:
        assert torch.all(p.grad == 0.25)     # ... with the same values
    assert params[-1].grad is None


def test_modes_are_restored_per_module(bn_dropout_model):
    model, x = bn_dropout_model
    model.eval()
    model[1].train()                         # a mixed state: only the first BatchNorm in train mode
    modes = [m.training for m in model.modules()]
    d = diagnose(model, x)                   # runs in train mode (dropout off) ...
    assert d.settings["mode"] == "train"
    assert [m.training for m in model.modules()] == modes   # ... and restores every flag
    d = diagnose(model, x, train=None)
    assert d.settings["mode"] == "eval"
    assert [m.training for m in model.modules()] == modes


def test_rng_state_is_restored(bn_dropout_model):
    model, x = bn_dropout_model
    state = torch.get_rng_state()
    d1 = diagnose(model, x, train=None)      # model in train mode: dropout draws from the global RNG
    assert torch.equal(torch.get_rng_state(), state)
    d2 = diagnose(model, x, train=None)
    assert torch.equal(torch.get_rng_state(), state)
    assert d1.to_dict()["layers"] == d2.to_dict()["layers"]     # same draws, same numbers


def test_dropout_is_off_in_the_default_train_mode(bn_dropout_model):
    model, x = bn_dropout_model
    a = diagnose(model, x).to_dict()["layers"]
    torch.manual_seed(123)
    b = diagnose(model, x).to_dict()["layers"]
    assert a == b


def test_hooks_are_removed(bn_dropout_model):
    model, x = bn_dropout_model
    n = _hooks(model)
    diagnose(model, x)
    assert _hooks(model) == n == 0


class Boom(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        x = self.bn(self.act(self.fc(x)))
        raise RuntimeError("boom")


def test_hooks_modes_buffers_rng_restored_on_exception():
    model = Boom().eval()
    x = torch.randn(16, 8)
    state = torch.get_rng_state()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        diagnose(model, x)
    assert _hooks(model) == 0
    assert not any(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), state)


def test_works_inside_no_grad_and_leaves_grad_mode(make, schemes):
    model, x = make("mlp:16-32-4:tanh", schemes["xavier_tanh"])
    with torch.no_grad():
        d = diagnose(model, x)
        assert not torch.is_grad_enabled()
    assert all(l.grad_rms == l.grad_rms for l in d.layers)      # gradients were computed


def test_frozen_parameters_get_no_gradient_but_are_reported(make, schemes):
    model, x = make("mlp:16-32-32-4:relu", schemes["kaiming_relu"])
    model[0].weight.requires_grad_(False)
    d = diagnose(model, x)
    p = d.param("0.weight")
    assert p.requires_grad is False and p.grad_std != p.grad_std and p.std > 0
    assert d.param("2.weight").grad_std > 0
    assert model[0].weight.grad is None
