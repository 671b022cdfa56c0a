"""The validated sweep spec (experiments/sweep.py): one place that checks compare's and double descent's run
options, the executor and its address; errors name the argument, the value and the fix."""
import dataclasses
import sys

import pytest

from initlab.errors import InitError
from initlab.experiments.sweep import SweepSpec, check_compare, check_double_descent, check_executor, ray_installed

BASE = dict(seeds=2, optimizer="sgd", path="auto", dtype="float32", threads=None, workers=None, target=None,
            chunk=None)


def test_check_compare_builds_a_frozen_spec():
    spec = check_compare("mlp:64-32-10", "digits", "zeros, auto,", data_options={"subsample": 100}, **BASE)
    assert isinstance(spec, SweepSpec)
    assert spec.policies == ("zeros", "auto") and spec.seeds == (0, 1)
    assert spec.executor == "local" and spec.address is None and spec.max_retries == 2
    assert spec.data == "digits" and spec.named_data and spec.data_options == {"subsample": 100}
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.executor = "ray"


@pytest.mark.parametrize("kw, arg, words", [
    ({"executor": "spark"}, "executor", "one of 'local', 'ray'"),
    ({"executor": "local", "address": "auto"}, "address", "executor='ray'"),
    ({"executor": "ray", "address": "has space"}, "address", "Ray address"),
    ({"executor": "ray", "workers": 2}, "workers", "executor='local'"),
    ({"chunk": 0}, "chunk", "positive number"),
    ({"optimizer": "lbfgs"}, "optimizer", "one of"),
    ({"dtype": "float16"}, "dtype", "one of"),
    ({"target": float("nan")}, "target", "finite"),
])
def test_bad_options_name_the_argument_and_the_fix(kw, arg, words):
    with pytest.raises(InitError) as e:
        check_compare("mlp:64-32-10", "digits", ["zeros"], **{**BASE, **kw})
    msg = str(e.value)
    assert msg.startswith(f"initlab.compare: {arg}=") and words in msg and "Fix:" in msg


DD = dict(data="mnist1d", noise=0.15, widths=None, epochs=None, seeds=2, policy="torch_default", compare=None,
          samples=None, n_train=4000, n_test=10000, batch_size=128, lr=1e-3, data_seed=0, data_dir=None, threads=None,
          tol=0.01, min_rise=0.03, eval_points=120, final_only=False, workers=None, executor="local", address=None)


def test_check_double_descent_builds_the_spec_its_sweeps_train():
    from initlab.experiments.dd_data import DEFAULT_EPOCHS, DEFAULT_SAMPLE_WIDTHS, DEFAULT_SAMPLES, DEFAULT_WIDTHS
    spec = check_double_descent("width", **{**DD, "compare": "xavier_uniform"})
    assert spec.study == "double-descent" and spec.policies == ("torch-default", "xavier_uniform")
    assert spec.widths == DEFAULT_WIDTHS and spec.seeds == (0, 1) and spec.workers is None
    assert spec.train.epochs == DEFAULT_EPOCHS and spec.train.optimizer == "adam" and spec.train.eval_train
    assert spec.train.eval_epochs[-1] == DEFAULT_EPOCHS and len(spec.train.eval_epochs) > 100
    assert spec.data == spec.data_fingerprint == "mnist1d" and spec.data_options["n_train"] == 4000
    assert spec.options == {"axis": "width", "samples": None, "final_only": False, "eval_points": 120, "tol": 0.01,
                            "min_rise": 0.03}
    spec = check_double_descent("samples", **{**DD, "data": "FMNIST", "epochs": 5, "threads": 2, "final_only": True,
                                              "widths": [8.0, 4, 4]})
    assert spec.widths == (4, 8) and spec.options["samples"] == list(DEFAULT_SAMPLES) and spec.train.eval_epochs == [5]
    assert spec.workers == 1 and spec.data == "fashion-mnist"                # threads given: one process
    assert check_double_descent("samples", **{**DD, "widths": None}).widths == DEFAULT_SAMPLE_WIDTHS


def test_pre_loaded_data_travels_as_checked_tensors_named_by_their_digest():
    import torch
    x, y = torch.randn(30, 2, 3), torch.arange(30) % 3
    spec = check_double_descent("width", **{**DD, "data": (x, y, x[:10], y[:10]), "widths": [2]})
    assert spec.data_fingerprint.startswith("custom:") and not spec.named_data
    assert spec.data[0].shape == (30, 6) and spec.data[1].dtype == torch.long
    again = check_double_descent("width", **{**DD, "data": spec.data, "widths": [2]})
    assert again.data_fingerprint == spec.data_fingerprint                  # a Ray worker resolves it the same


@pytest.mark.parametrize("axis, kw, arg, words", [
    ("depth", {}, "axis", "one of 'width', 'epochs', 'samples'"),
    ("width", {"noise": 1.0}, "noise", "a fraction in [0, 1)"),
    ("width", {"lr": float("nan")}, "lr", "finite"),
    ("width", {"epochs": 2.5}, "epochs", "a positive integer"),
    ("width", {"batch_size": True}, "batch_size", "a positive integer"),
    ("width", {"data_seed": "0"}, "data_seed", "an integer"),
    ("width", {"policy": ""}, "policy", "an init policy name"),
    ("width", {"compare": "torch-default"}, "compare", "different from policy='torch-default'"),
    ("width", {"threads": 0}, "threads", "positive integer"),
    ("width", {"workers": 1.0}, "workers", "positive integer"),
    ("epochs", {"final_only": True}, "final_only", "axis='epochs'"),
    ("width", {"widths": [True, 4]}, "widths", "integers >= 1"),
    ("width", {"widths": 64}, "widths", "a list of integers"),
    ("width", {"widths": "64"}, "widths", "a list of integers"),
    ("width", {"seeds": [0, 0]}, "seeds", "distinct"),
    ("samples", {"samples": [5, 100]}, "samples", "integers >= 10"),
    ("samples", {"samples": [5000]}, "samples", "sizes <= n_train=4000"),
    ("width", {"samples": [100]}, "samples", "axis='samples'"),
    ("width", {"data": "cifar"}, "data", "one of 'mnist1d', 'fashion-mnist'"),
    ("width", {"executor": "ray", "workers": 2}, "workers", "executor='local'"),
    ("width", {"max_retries": -1}, "max_retries", "from 0 to 100"),
])
def test_bad_double_descent_arguments_name_the_argument_and_the_fix(axis, kw, arg, words):
    with pytest.raises(InitError) as e:
        check_double_descent(axis, **{**DD, **kw})
    msg = str(e.value)
    assert msg.startswith(f"initlab.double_descent: {arg}=") and words in msg and "Fix:" in msg


def test_pre_loaded_data_too_small_for_the_sizes_fails_before_any_size_trains():
    import torch

    import initlab
    x, y = torch.randn(40, 4), torch.arange(40) % 2
    with pytest.raises(InitError, match=r"samples=\[20, 100\].*sizes <= 40 \(the training samples given\)"):
        initlab.double_descent("samples", data=(x, y, x, y), samples=[20, 100], widths=[2], epochs=1, store=None)


def test_missing_ray_is_one_clear_error_before_any_work(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # `import ray` now fails as if not installed
    assert not ray_installed()
    with pytest.raises(InitError, match=r"executor='ray'.*pip install 'initlab\[ray\]'"):
        check_executor("initlab.compare", "ray", None)
    import initlab
    with pytest.raises(InitError, match="initlab.double_descent: executor='ray'"):
        initlab.double_descent("width", widths=[2, 4], epochs=1, n_train=50, n_test=50, executor="ray")


def test_cli_flags_reach_the_spec_checks(capsys):
    from initlab.cli.main import main
    rc = main(["compare", "--model", "mlp:64-32-10", "--data", "digits", "--policies", "zeros", "--address", "auto",
               "--no-store", "--no-report", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "address='auto'" in err and "--executor ray" in err
    rc = main(["double-descent", "--executor", "local", "--address", "auto", "--widths", "2", "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "address='auto'" in err


def test_the_local_executor_never_imports_ray():
    import subprocess
    code = ("import sys, initlab\n"
            "r = initlab.compare('mlp:64-16-10', 'digits', ['zeros'], seeds=1, epochs=1, lr=0.05, batch_size=64,"
            " data_options={'subsample': 100}, progress=False)\n"
            "assert r.config['executor'] == 'local' and r.config['failed'] == []\n"
            "print('ray' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


def test_what_travels_to_a_cluster(tmp_path):
    from pathlib import Path

    import initlab
    from initlab.experiments.executors.ray_executor import runtime_env
    factory = tmp_path / "nets" / "my_net.py"
    spec = check_compare(f"{factory}:build", "digits", ["zeros"], **BASE)
    env, model = runtime_env(spec)
    assert env["py_modules"] == [str(Path(initlab.__file__).parent)]        # the driver's initlab
    assert env["working_dir"] == str(factory.parent) and model == "my_net.py:build"
    env, model = runtime_env(check_compare("mlp:64-32-10", "digits", ["zeros"], **BASE))
    assert "working_dir" not in env and model == "mlp:64-32-10"              # zoo specs travel as text


def test_an_address_nobody_answers_on_fails_fast():
    import socket
    import time

    from initlab.experiments.executors.ray_executor import _reachable
    with socket.socket() as s:                                              # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(InitError, match=rf"address='127.0.0.1:{port}'.*ray start --head"):
        _reachable(f"127.0.0.1:{port}", "initlab.compare")
    assert time.perf_counter() - t0 < 5
    _reachable("auto", "initlab.compare")                                   # Ray itself resolves 'auto'
