"""max_retries (API) / --max-retries (CLI): validated in the sweep spec and by the CLI's range check, carried
into the spec the Ray executor reads.  No Ray needed here (test_ray.py runs a sweep with max_retries=0)."""
import pytest

from initlab.errors import InitError
from initlab.experiments.sweep import MAX_RETRIES, check_compare, check_double_descent

BASE = dict(seeds=1, optimizer="sgd", path="auto", dtype="float32", threads=None, workers=None, target=None,
            chunk=None)
DD = dict(data="mnist1d", noise=0.15, widths=[4], epochs=1, seeds=1, policy="auto", compare=None, samples=None,
          n_train=50, n_test=50, batch_size=16, lr=1e-3, data_seed=0, data_dir=None, threads=None, tol=0.01,
          min_rise=0.03, eval_points=10, final_only=False, workers=None, executor="local", address=None)


def test_max_retries_travels_in_the_spec():
    assert check_compare("mlp:64-32-10", "digits", "zeros", max_retries=5, **BASE).max_retries == 5
    assert check_compare("mlp:64-32-10", "digits", "zeros", max_retries=0, **BASE).max_retries == 0
    dd = check_double_descent("width", max_retries=7, **DD)
    assert dd.max_retries == 7


@pytest.mark.parametrize("bad", [-1, MAX_RETRIES + 1, True, "2", 1.5, None])
def test_a_bad_max_retries_is_one_clear_error(bad):
    with pytest.raises(InitError) as e:
        check_compare("mlp:64-32-10", "digits", "zeros", max_retries=bad, **BASE)
    msg = str(e.value)
    assert "max_retries" in msg and f"from 0 to {MAX_RETRIES}" in msg and "Fix:" in msg


def test_compare_and_double_descent_refuse_a_bad_max_retries_before_training():
    import initlab
    with pytest.raises(InitError, match="max_retries=-1"):
        initlab.compare("mlp:64-32-10", "digits", ["zeros"], seeds=1, epochs=1, lr=0.1, batch_size=8, store=None,
                        progress=False, max_retries=-1)
    with pytest.raises(InitError, match="max_retries=101"):
        initlab.double_descent("width", widths=[2], epochs=1, seeds=1, store=None, max_retries=101, n_train=50,
                               n_test=50)


@pytest.mark.parametrize("cmd", ["compare", "double-descent"])
def test_cli_max_retries_is_range_checked_in_one_line(cmd, capsys):
    from initlab.cli.main import main
    assert main([cmd, "--max-retries", "101"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--max-retries=101 is not allowed; expected a count from 0 to 100. Fix: e.g. --max-retries 2" in err[-1]
    assert main([cmd, "--help"]) == 0
    assert "--max-retries N" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["constant-and-uniform", "housing"])
def test_reproductions_that_sweep_pass_the_executor_to_compare(name, monkeypatch, request):
    if name == "housing":          # it loads California housing before its first compare: skip (fail on CI) without it
        request.getfixturevalue("housing_data")
    import initlab.experiments.compare as cmp
    from initlab.experiments import reproduce as rp
    from initlab.experiments import sweep
    seen = []

    class Stop(Exception):
        pass

    def fake_compare(*args, **kw):                 # what the reproduction asks compare for; nothing trains
        seen.append((kw.get("executor"), kw.get("address")))
        raise Stop
    monkeypatch.setattr(cmp, "compare", fake_compare)
    monkeypatch.setattr(sweep, "ray_installed", lambda: True)
    with pytest.raises(Stop):
        rp.reproduce(name, budget="quick", executor="ray", address="auto")
    assert seen == [("ray", "auto")]
    with pytest.raises(Stop):
        rp.reproduce(name, budget="quick")
    assert seen[-1] == ("local", None)


def test_cli_reproduce_has_executor_and_refuses_an_address_without_ray(capsys):
    from initlab.cli.main import main
    assert main(["reproduce", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--executor {local,ray}" in out and "--address ADDR" in out
    assert main(["reproduce", "housing", "--quick", "--no-plots", "--address", "auto"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "address" in err[0] and "executor='ray'" in err[0]
