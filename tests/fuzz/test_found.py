"""One regression test per bug the model and CLI fuzzers found (tests/fuzz/test_models.py, test_cli.py)."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import initlab
from initlab import InitError
from initlab.cli.main import main


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # torch warns that filling a zero-element tensor is a no-op
        yield


# ---------------------------------------------------------------- zero-size layers
@pytest.mark.parametrize("policy", ["auto", "kaiming_normal", "xavier_uniform", "torch_default", "orthogonal", "lsuv"])
def test_plan_apply_verify_a_zero_size_layer(policy):
    """nn.Linear(0, 4) has fan_in 0: the variance laws divided by it (ZeroDivisionError at planning), and
    Plan.verify reduced empty tensors (RuntimeError from min(), reshape(0, -1))."""
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 0), nn.Linear(0, 2))
    x = torch.randn(8, 3)
    p = initlab.plan(m, policy, example_inputs=x, seed=0)
    empty = [r for r in p.rows if 0 in r.shape and r.action not in ("keep", "calibrate")]
    assert empty and all(r.law == {"dist": "empty", "mean": 0.0, "std": 0.0} for r in empty)
    assert "(empty)" in str(p)
    p.apply(m)
    assert p.verify(m) == []
    lone = nn.Linear(0, 4)
    assert initlab.init_(lone, policy if policy != "lsuv" else "auto", seed=0).verify(lone) == []


def test_plan_keeps_checking_arguments_on_an_empty_tensor():
    with pytest.raises(InitError, match="mode"):
        initlab.plan(nn.Linear(0, 4), ("kaiming_normal", {"mode": "nope"}))


def test_diagnose_zero_size_input_and_output_are_init_errors():
    with pytest.raises(InitError, match="at least one value per sample"):
        initlab.diagnose(nn.Linear(0, 2), torch.randn(4, 0))
    with pytest.raises(InitError, match="model output"):
        initlab.diagnose(nn.Linear(3, 0), torch.randn(4, 3))
    d = initlab.diagnose(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 0), nn.Linear(0, 2)), torch.randn(8, 3))
    assert d.input["arriving_ratio"] == 0.0            # nothing reaches the head through a zero-width layer
    assert not d.healthy and set(d.kinds) == {"vanishing"} and "zero-width layer" in d.verdicts[0].fix


# ---------------------------------------------------------------- inputs the model refuses
class Picky(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x.float())                     # a str has no .float(): AttributeError


def test_diagnose_names_inputs_the_model_refuses():
    """diagnose let the model's own RuntimeError / AttributeError out; plan() already said which input."""
    with pytest.raises(InitError, match=r"diagnose: inputs has shape \(5, 7\).*Fix: pass inputs"):
        initlab.diagnose(nn.Linear(3, 4), torch.randn(5, 7))
    with pytest.raises(InitError, match="diagnose: inputs"):
        initlab.diagnose(Picky(), [torch.randn(4, 3), "x"][1:] + [torch.randn(4, 3)])
    with pytest.raises(InitError, match="targets"):
        initlab.diagnose(nn.Linear(3, 4), torch.randn(5, 3), torch.randn(7))
    with pytest.raises(InitError, match="targets"):
        initlab.diagnose(nn.Linear(3, 4), torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 9]))


def test_plan_refuses_inputs_of_no_known_kind_and_names_attribute_errors():
    with pytest.raises(InitError, match="example_inputs='str'"):
        initlab.plan(nn.Linear(3, 2), "auto", example_inputs="x")
    with pytest.raises(InitError, match="AttributeError"):
        initlab.plan(Picky(), "lsuv", example_inputs=["x"])


# ---------------------------------------------------------------- lazy and meta models
def test_lazy_parameters_are_refused_by_name():
    """An UninitializedParameter raised torch's ValueError from deep inside planning."""
    m = nn.Sequential(nn.Linear(3, 4), nn.LazyLinear(2))
    for call in (lambda: initlab.plan(m, "auto"), lambda: initlab.diagnose(m, torch.randn(4, 3))):
        with pytest.raises(InitError, match=r"uninitialized lazy parameters \(1.weight, 1.bias\).*forward pass"):
            call()
    m(torch.randn(4, 3))                                    # materialized: now it plans
    assert initlab.plan(m, "auto").rows


def test_prelu_on_the_meta_device():
    """auto read the PReLU slope with .item(): 'Tensor.item() cannot be called on meta tensors'."""
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(3, 4), nn.PReLU(init=0.1), nn.Linear(4, 2))
    p = initlab.init_(m, "auto")
    assert "negative_slope=0.1" in p.rows[0].reason
    assert p.verify(m) == []


# ---------------------------------------------------------------- CLI
@pytest.mark.parametrize("argv, flag", [
    (["reproduce", "backprop", "--seeds", "1000000000"], "--seeds=1000000000"),
    (["reproduce", "backprop", "--seeds", "0"], "--seeds=0"),
    (["reproduce", "backprop", "--threads", "100000"], "--threads=100000"),
    (["reproduce", "backprop", "--threads", "0"], "--threads=0"),
    (["plan", "deep-mlp:100000000:8"], "MODEL='deep-mlp:100000000:8'"),
    (["plan", "mlp:100000-100000-100000"], "fit in half this machine's memory"),
    (["diagnose", "deep-mlp:3:100000000"], "fit in half this machine's memory"),
    (["compare", "--model", "mlp:100000-100000-100000", "--no-store"], "--model="),
])
def test_cli_range_checks(argv, flag, capsys):
    """`reproduce --seeds/--threads` had no range (issue 17's note); a zoo model too large for the machine
    reached the allocator (40 GB asked, RuntimeError, exit 1 with 'set INITLAB_DEBUG=1')."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("initlab: error: ") and flag in err[0], err


# ---------------------------------------------------------------- found in the schemes layer and auto's rules
def test_scheme_describe_of_a_zero_element_shape():
    """The variance laws divided by the zero fan of a (4, 0) weight (ZeroDivisionError)."""
    for name in ("kaiming_normal", "xavier_uniform", "lecun_normal", "general_rule_uniform", "variance_scaling"):
        assert initlab.get_scheme(name).describe((4, 0))["dist"] == "empty"
    with pytest.raises(InitError):                 # the arguments are still checked
        initlab.get_scheme("kaiming_normal").describe((4, 0), mode="sideways")


def test_auto_on_a_zero_channel_transposed_conv():
    """auto's transposed-conv rule described a zero-size weight (ZeroDivisionError)."""
    m = nn.ConvTranspose2d(0, 3, 2)
    p = initlab.init_(m, "auto", seed=0)
    assert p.verify(m) == []


def test_double_descent_plots_naming_a_file(tmp_path, capsys, monkeypatch):
    """--plots notes.txt trained the whole sweep, then failed with FileExistsError (exit 1, 'set INITLAB_DEBUG')."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["double-descent", "--widths", "2", "--epochs", "1", "--plots", "notes.txt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plots='notes.txt' is not allowed; expected a folder" in err[0]
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_diagnose_integer_and_complex_parameters():
    """An integer parameter (an index table) made torch._foreach_norm raise in diagnose's parameter table."""
    m = nn.Module()
    m.lin = nn.Linear(3, 2)
    m.table = nn.Parameter(torch.arange(6).reshape(2, 3), requires_grad=False)
    m.phase = nn.Parameter(torch.ones(2, dtype=torch.cfloat))
    m.forward = lambda x: m.lin(x) + m.table.sum() + m.phase.real.sum()
    d = initlab.diagnose(m, torch.randn(8, 3))
    assert d.param("table").mean == pytest.approx(2.5) and d.param("phase").mean == pytest.approx(1.0)


def test_policy_names_have_one_canonical_spelling():
    from initlab.policy.api import canonical_name
    assert initlab.list_policies() == ["auto", "torch_default", "gpt2", "fixup", "zero_init_residual", "zero", "lsuv",
                                       "bert"]
    for name in ("torch-default", "Torch_Default", " torch_default "):
        assert canonical_name(name) == "torch_default"
        assert initlab.plan(nn.Linear(3, 2), name).policy == "torch_default"        # hyphens still resolve
    assert initlab.plan(nn.Linear(3, 2), "zero-init-residual").policy == "zero_init_residual"
    assert canonical_name("he_normal") == "kaiming_normal" and canonical_name("nope") == "nope"
    from initlab.cli.cmd_compare import MAIN_POLICIES
    assert all(canonical_name(p) == p for p in MAIN_POLICIES)


@pytest.mark.parametrize("cmd", ["plan", "diagnose"])
def test_cli_batch_larger_than_memory(cmd, capsys):
    """--batch 16777216 passed the range check and asked the allocator for 52 GB (exit 1, 'set INITLAB_DEBUG')."""
    assert main([cmd, "seed004", "--batch", "16777216"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--batch=16777216 is not allowed; expected a batch whose activations fit" in err[0]


def test_compare_refuses_more_models_at_once_than_memory_holds(capsys):
    """--seeds 10000 of a 17M-parameter MLP stacked every model at once: the allocator failed (exit 1)."""
    argv = ["compare", "--model", "mlp:64-4096-4096-10", "--data", "digits", "--seeds", "10000", "--no-store"]
    assert main(argv) == 2
    assert main(argv + ["--chunk", "9000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--seeds=10000 is not allowed" in err[0] and "--chunk=9000 is not allowed" in err[1]
    assert "Fix: pass --chunk " in err[1]


def test_out_of_memory_is_one_line(monkeypatch, capsys):
    """Whatever a range check cannot foresee: the allocator's failure is one line naming the fixes."""
    import initlab.cli.cmd_schemes as cmd

    def boom(args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: 1e12 bytes")
    monkeypatch.setattr(cmd, "run", boom)
    assert main(["schemes"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("initlab: error: out of memory (") and "INITLAB_DEBUG" not in err[0]


def test_command_spelled_with_underscores_is_an_alias(capsys):
    """One spelling per name, the other an alias (issue 17): `double_descent` was 'invalid choice'."""
    assert main(["double_descent", "--widths", "0"]) == 2
    err = capsys.readouterr().err
    assert "--widths=0 is not allowed" in err and "initlab double-descent --help" in err
    assert main(["plan_x"]) == 2 and "invalid choice: 'plan_x'" in capsys.readouterr().err


def test_double_descent_plots_in_a_folder_that_cannot_be_made(capsys):
    """--plots /proc/x/y trained the whole sweep, then failed with FileNotFoundError (exit 1)."""
    assert main(["double-descent", "--widths", "2", "--epochs", "1", "--plots", "/proc/initlab-test/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plots='/proc/initlab-test/x' is not allowed; expected a folder that can be" in err[0]


@pytest.mark.parametrize("out", ["notes.txt", "/proc/initlab-test/x"])
def test_reproduce_out_that_is_a_file_or_cannot_be_made(out, tmp_path, capsys, monkeypatch):
    """reproduce --out notes.txt / --out /proc/x/y ran the reproduction, then FileExistsError / FileNotFoundError."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["reproduce", "perceptron", "--quick", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--out={out!r} is not allowed; expected a folder" in err[0]
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
