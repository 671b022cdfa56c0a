"""The validated sweep spec (experiments/sweep.py): one place that checks compare's and double descent's run
options, the executor and its address; errors name the argument, the value and the fix."""
import dataclasses
import sys

import pytest

from initlab.errors import InitError
from initlab.experiments.sweep import SweepSpec, check_compare, check_executor, ray_installed

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
