import json

import pytest

import initlab
from initlab.cli.main import main
from initlab.experiments import reproduce as rp


def test_every_reproduction_is_listed_with_its_source():
    rows = rp.describe()
    assert [r["name"] for r in rows] == rp.reproductions()
    assert set(rp.reproductions()) == {"constant-and-uniform", "bad-init-logistic", "he-binary", "housing",
                                       "backprop", "perceptron", "symmetry"}
    assert all(r["source"].startswith("seed") and r["title"] for r in rows)


@pytest.mark.parametrize("kwargs", [dict(budget="fast"), dict(seeds=0), dict(seeds=[1, 1]), dict(threads=0)])
def test_bad_arguments_are_init_errors(kwargs):
    with pytest.raises(initlab.InitError):
        initlab.reproduce("perceptron", **kwargs)


def test_cli_json_and_exit_status(capsys, tmp_path):
    assert main(["reproduce", "perceptron", "--quick", "--seeds", "2", "--json", "--out", str(tmp_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is True and d["seeds"] == [0, 1] and d["budget"] == "quick"
    assert all({"label", "metric", "values", "mean", "ci95", "published"} <= set(f) for f in d["figures"])
    assert (tmp_path / "mistakes_per_epoch.png").exists()
    assert main(["reproduce", "perceptron", "--seeds", "0"]) == 2


def test_runs_are_recorded_in_the_store(tmp_path):
    from initlab.experiments.store import RunStore
    path = tmp_path / "runs.sqlite"
    r = initlab.reproduce("perceptron", budget="quick", seeds=2, store=str(path), plots=False)
    assert r.stored == 4 and not r.plots
    with RunStore(path) as st:
        runs = st.runs()
    assert {(x.policy, x.seed) for x in runs} == {(f"perceptron/{k}", s) for k in ("separable", "xor") for s in (0, 1)}
