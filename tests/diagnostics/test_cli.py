"""`initlab diagnose`: exit 0 healthy / 1 problems / 2 bad usage, JSON output, plot, data sets."""
import json

import pytest

from initlab.cli.main import main


def run(capsys, *argv):
    code = main(["diagnose", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_torch_default_50_layer_tanh_fails_with_json(capsys):
    code, out, err = run(capsys, "deep-mlp:50:256:tanh", "--json")
    assert code == 1 and err == ""
    d = json.loads(out)
    assert d["healthy"] is False and d["kinds"] == ["vanishing"]
    assert d["run"] == {"model": "deep-mlp:50:256:tanh", "policy": "as built", "data": None, "batch": 256,
                        "seed": 0, "plot": None}
    assert d["settings"]["batch"] == 256 and len(d["layers"]) == 101


def test_auto_policy_passes(capsys):
    code, out, _ = run(capsys, "deep-mlp:50:256:tanh", "--policy", "auto", "--brief")
    assert code == 0
    assert "diagnosis: healthy" in out and "[healthy]" in out


@pytest.mark.parametrize("spec,policy,kind", [("deep-mlp:20:256:relu", "uniform", "exploding"),
                                              ("deep-mlp:20:256:tanh", "normal", "saturated"),
                                              ("seed004", "zeros", "symmetric"),
                                              ("seed004", "ones", "symmetric")])
def test_scheme_policies_fail_with_their_verdict(capsys, spec, policy, kind):
    code, out, _ = run(capsys, spec, "--policy", policy, "--json")
    d = json.loads(out)
    assert code == 1 and d["verdicts"][0]["kind"] == kind


def test_table_output(capsys):
    code, out, _ = run(capsys, "mlp:16-32-32-4:relu", "--seed", "3")
    assert code == 0
    assert out.startswith("model mlp:16-32-32-4:relu, policy as built, inputs N(0, 1), seed 3")
    assert "sig/in" in out and "0.weight" in out and "diagnosis: healthy" in out


def test_plot_option(capsys, tmp_path):
    path = tmp_path / "d.png"
    code, out, err = run(capsys, "mlp:16-32-4:tanh", "--plot", str(path), "--json")
    assert code == 0 and json.loads(out)["run"]["plot"] == str(path)
    assert path.read_bytes()[:4] == b"\x89PNG" and "plot written" in err


def test_data_option_uses_the_data_and_its_loss(capsys):
    code, out, _ = run(capsys, "digits-mlp", "--data", "digits", "--batch", "128", "--json")
    d = json.loads(out)
    assert code == 0, d["kinds"]
    assert d["settings"]["backward"] == "gradient of the loss (cross_entropy)"
    assert d["input"]["shape"] == [128, 64]


@pytest.mark.parametrize("argv,match", [
    (["nope:1"], "spec='nope:1'"),
    (["seed004", "--policy", "autoo"], "Did you mean 'auto'"),
    (["seed004", "--batch", "1"], "--batch"),
    (["seed004", "--seed", "-1"], "--seed"),
    (["seed004", "--batch", "x"], "invalid int"),
    (["seed004", "--data", "digits"], "input shape"),
])
def test_bad_usage_exits_2_with_one_line(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert match in err and err.count("\n") == 1 and err.startswith("initlab: error:")


def test_help_has_examples(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "Examples:" in out and "initlab diagnose deep-mlp:50:256:tanh --policy auto" in out
    for opt in ("--policy", "--data", "--batch", "--seed", "--json", "--plot"):
        assert opt in out


def test_an_unwritable_plot_path_is_a_usage_error_before_the_work(tmp_path, capsys):
    from initlab.cli.main import main
    assert main(["diagnose", "deep-mlp:3:16:tanh", "--plot", str(tmp_path / "missing" / "d.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--plot=" in err
