"""`initlab plan MODEL [--policy P] [--json] [--apply-check]`."""
import json

from initlab.cli.main import main


def test_plan_table(capsys):
    assert main(["plan", "mlp:784-256-128-10:relu"]) == 0
    out = capsys.readouterr().out
    assert "0.weight" in out and "kaiming_normal" in out and "logits" in out and "fx" in out


def test_plan_json_and_apply_check(capsys):
    assert main(["plan", "deep-mlp:5:32:tanh", "--json", "--apply-check"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["policy"] == "auto" and d["apply_check"] == {"ok": True, "problems": []}
    r = d["rows"][0]      # calibrated on the zoo's inputs: xavier's gain, drawn orthogonal (auto_data.draw)
    assert r["scheme"] in ("xavier_normal", "orthogonal") and "xavier_normal" in r["reason"] and "tanh" in r["reason"]


def test_plan_lsuv_uses_zoo_inputs(capsys):
    assert main(["plan", "mlp:20-32-5:relu", "--policy", "lsuv", "--apply-check"]) == 0
    out = capsys.readouterr().out
    assert "orthogonal" in out and "apply-check: ok" in out


def test_plan_bad_policy_exits_2(capsys):
    assert main(["plan", "seed004", "--policy", "autoo"]) == 2
    err = capsys.readouterr().err
    assert "policy='autoo'" in err and "Did you mean 'auto'" in err


def test_plan_batch_below_2_is_a_usage_error(capsys):
    assert main(["plan", "deep-mlp:5:32:tanh", "--policy", "lsuv", "--batch", "0"]) == 2
    assert "--batch=0" in capsys.readouterr().err


def test_plan_json_is_strict_even_with_non_finite_numbers(capsys, monkeypatch):
    """--json never prints a bare NaN (not JSON): non-finite numbers become null."""
    from initlab.policy.plans import Plan
    real = Plan.to_dict

    def with_nan(self):
        d = real(self)
        d["notes"] = list(d.get("notes", [])) + [float("nan")]
        return d
    monkeypatch.setattr(Plan, "to_dict", with_nan)
    assert main(["plan", "deep-mlp:3:16:relu", "--json"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out and json.loads(out)["notes"][-1] is None
