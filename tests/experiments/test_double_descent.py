"""Double-descent machinery on a small budget: masked == narrow, threshold detection, resume, CLI."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from initlab.errors import InitError
from initlab.experiments import dd_sweep as eng
from initlab.experiments.engine import TrainConfig, TrainData, train_stack
from initlab.experiments.engine.mlp_kernel import StackedMLP
from initlab.experiments.engine.mlp_plan import parse_stack
from initlab.experiments.double_descent import (analyze_epochwise, analyze_modelwise, analyze_samplewise,
                                                find_threshold, parse_label, run_label)
from initlab.reports.dd_plots import double_descent     # the sweep + its figures (initlab.double_descent)



def _toy(n=240, t=300, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    def make(k):
        x = torch.randn(k, d, generator=g)
        y = ((x[:, 0] > 0).long() * 3 + (x[:, 1] > 0).long() + (x[:, 2] > 0.5).long() * 5) % 10
        return x, y
    x, y = make(n)
    y[: n // 8] = torch.randint(0, 10, (n // 8,), generator=g)      # label noise
    xt, yt = make(t)
    return x, y, xt, yt


# ----------------------------------------------------------------------------- masked == narrow
WIDTHS, SEEDS = [3, 7, 16], [0, 5]


def test_stack_holds_each_narrow_init_exactly():
    models = [eng.make_narrow(12, h, 10, s) for s in SEEDS for h in WIDTHS]
    plan, plans, _ = parse_stack(models)
    st = StackedMLP(models, plan, plans, groups=len(SEEDS), device="cpu", dtype=torch.float32)
    for k, (s, h) in enumerate((s, h) for s in SEEDS for h in WIDTHS):
        ref = eng.make_narrow(12, h, 10, s)
        for l, lin in enumerate(eng.linears(ref)):
            o, i = lin.weight.shape
            assert torch.equal(st.weights[l][k, :o, :i], lin.weight)
            assert st.weights[l][k, o:].abs().sum() == 0 and st.weights[l][k, :, i:].abs().sum() == 0
        # its own fan_in: layer 2 of width h is U(-1/sqrt(h), 1/sqrt(h)), not the bucket's 1/sqrt(16)
        w2 = eng.linears(ref)[1].weight
        assert w2.abs().max() <= 1 / math.sqrt(h) + 1e-7
        if h < 16:
            assert w2.abs().max() > 1 / math.sqrt(16)
    # every (width, seed) got a different draw
    assert not torch.equal(eng.make_narrow(12, 7, 10, 0)[0].weight, eng.make_narrow(12, 7, 10, 5)[0].weight)


def test_training_matches_the_narrow_models_alone():
    """A few epochs of Adam: the bucketed models end where the narrow models trained alone (autograd) end."""
    x, y, xt, yt = _toy()
    sched = [1, 3, 4]
    out = eng.train_buckets([eng.Bucket(WIDTHS, SEEDS)], (x, y, xt, yt), policy="torch-default", epochs=4,
                            batch_size=32, lr=3e-3, schedule=sched)
    (_, hist, _), = out
    cfg = TrainConfig(epochs=4, lr=3e-3, batch_size=32, optimizer="adam", eval_epochs=sched, eval_train=True,
                      row=eng.dd_row)
    data = TrainData("classification", x, y, xt, yt, 10, "test")
    for s in SEEDS:
        for h in WIDTHS:
            model = eng.make_narrow(12, h, 10, s)
            ref, = train_stack("sequential", [model], [eng.order_seed(s)], data, cfg)
            got = hist[(h, s)]
            assert [r["epoch"] for r in got.history] == sched
            for ra, rb in zip(ref.history, got.history):
                assert ra.keys() == rb.keys() == {"epoch", "train_loss", "train_err", "test_loss", "test_err"}
                assert abs(ra["test_loss"] - rb["test_loss"]) < 1e-4
                assert abs(ra["test_err"] - rb["test_err"]) <= 2 / len(yt) + 1e-9


def test_bucket_plan_covers_every_width_once():
    ws = [2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512]
    plan = eng.plan_buckets(ws, [0, 1], 40, 10, 128)
    assert sorted(w for b in plan for w in b.widths) == ws
    assert plan[-1].widths == [512]            # the widest is never padded into
    assert len(plan[0].widths) > 1              # the narrow ones share a bucket


def test_eval_schedule():
    assert eng.eval_epochs(10) == list(range(1, 11))
    e = eng.eval_epochs(2000, 120)
    assert e[:20] == list(range(1, 21)) and e[-1] == 2000 and len(e) <= 125 and e == sorted(set(e))


# ----------------------------------------------------------------------------- analysis
WS = [2, 4, 8, 16, 32, 64, 128, 256]


def test_threshold_and_peak_on_a_synthetic_curve():
    train = [0.60, 0.40, 0.20, 0.05, 0.004, 0.0, 0.0, 0.0]
    test = [0.62, 0.45, 0.33, 0.36, 0.48, 0.42, 0.37, 0.34]
    assert find_threshold(WS, train, 0.01) == 32
    a = analyze_modelwise(WS, train, test)
    assert a["threshold_width"] == 32 and a["peak_width"] == 32
    assert a["classical_min_width"] == 8 and a["classical_min_test_err"] == pytest.approx(0.33)
    assert a["rise_over_classical"] == pytest.approx(0.15) and a["rise_over_widest"] == pytest.approx(0.14)
    assert a["shows_peak"] and a["verdict"].startswith("PEAK")
    assert a["regimes"]["critical"] == [16, 64]


def test_no_peak_is_said_plainly():
    train = [0.60, 0.40, 0.20, 0.05, 0.004, 0.0, 0.0, 0.0]
    mono = [0.62, 0.45, 0.40, 0.38, 0.36, 0.35, 0.34, 0.33]
    a = analyze_modelwise(WS, train, mono)
    assert not a["shows_peak"] and a["verdict"].startswith("NO PEAK")
    a = analyze_modelwise(WS, [0.5] * 8, mono)
    assert a["threshold_width"] is None and not a["shows_peak"] and "no width interpolated" in a["verdict"]
    a = analyze_modelwise(WS, [0.0] * 8, mono)
    assert a["threshold_width"] == 2 and not a["shows_peak"] and "no classical" in a["verdict"]


def test_epochwise_and_samplewise_analysis():
    ep = analyze_epochwise([8, 64], [1, 2, 4, 8, 16], [[0.5, 0.4, 0.3, 0.3, 0.3], [0.5, 0.3, 0.4, 0.35, 0.31]])
    assert ep["widths_with_epochwise_dd"] == [64]
    sa = analyze_samplewise([100, 200, 400], {8: [0.5, 0.4, 0.3], 32: [0.4, 0.47, 0.3]})
    assert sa["widths_where_more_data_hurts"] == [32]
    assert run_label("torch-default", 64) == "torch-default@w=64"
    assert parse_label("a@b@w=7") == ("a@b", 7)


# ----------------------------------------------------------------------------- API: store, resume, errors
def test_resume_skips_finished_widths(tmp_path):
    data = _toy()
    store = tmp_path / "dd.sqlite"
    r1 = double_descent("width", data=data, widths=[2, 4], epochs=3, seeds=2, store=store, batch_size=64)
    assert (r1.trained, r1.skipped) == (4, 0)
    r2 = double_descent("width", data=data, widths=[2, 4, 8], epochs=3, seeds=2, store=store, batch_size=64)
    assert (r2.trained, r2.skipped) == (2, 4)
    assert r2.curves["test_err"][:2] == r1.curves["test_err"]
    from initlab.experiments.store import RunStore
    with RunStore(store) as st:
        labels = {(r.policy, r.seed) for r in st.runs()}
    assert labels == {(f"torch-default@w={w}", s) for w in (2, 4, 8) for s in (0, 1)}
    r3 = double_descent("epochs", data=data, widths=[2, 4, 8], epochs=3, seeds=2, store=store, batch_size=64,
                        plots=tmp_path / "png")
    assert (r3.trained, r3.skipped) == (0, 6)
    assert sorted(r3.figures) == ["epochwise", "modelwise"]
    assert all((tmp_path / "png" / f"dd_{k}.png").stat().st_size > 1000 for k in r3.figures)
    assert len(r3.epochwise["test_err"]) == 3 and r3.epochwise["epochs"] == [1, 2, 3]
    json.dumps(r3.to_dict(), allow_nan=False)


def test_a_read_only_store_resumes_and_refuses_to_train_before_training(tmp_path, monkeypatch):
    """Through the RunSink: a read-only store serves what it holds, and missing runs fail at the lease (one clear
    InitError) instead of after a bucket has trained."""
    from initlab.experiments.store import RunStore
    data, path = _toy(), tmp_path / "dd.sqlite"
    kw = dict(data=data, epochs=2, seeds=1, batch_size=64)
    r1 = double_descent("width", widths=[2, 4], store=path, **kw)
    trained = []
    real = eng.train_buckets
    monkeypatch.setattr(eng, "train_buckets", lambda *a, **k: trained.append(1) or real(*a, **k))
    with RunStore(path, readonly=True) as ro:
        r2 = double_descent("width", widths=[2, 4], store=ro, **kw)
        assert (r2.trained, r2.skipped) == (0, 2) and r2.curves == r1.curves
        with pytest.raises(InitError, match="read-only"):
            double_descent("width", widths=[2, 4, 8], store=ro, **kw)
    assert trained == []


def test_bad_arguments_raise_init_errors():
    with pytest.raises(InitError, match="axis"):
        double_descent("depth")
    with pytest.raises(InitError, match="noise"):
        double_descent("width", noise=1.5)
    with pytest.raises(InitError, match="widths"):
        double_descent("width", data=_toy(), widths=[0, 4])
    with pytest.raises(InitError, match="data"):
        double_descent("width", data="cifar")


# ----------------------------------------------------------------------------- CLI
def _cli(capsys, *argv):
    from initlab.cli.main import main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_shape_and_exit_codes(capsys, tmp_path):
    code, out, err = _cli(capsys, "double-descent", "--axis", "width", "--n-train", "200", "--n-test", "200",
                          "--widths", "2", "8", "--epochs", "2", "--threads", "1", "--json", "--quiet",
                          "--store", str(tmp_path / "s.sqlite"))
    assert code == 0, err
    d = json.loads(out)
    for k in ("axis", "config", "curves", "analysis", "verdict", "runs", "trained", "skipped", "figures", "threads"):
        assert k in d
    assert d["axis"] == "width" and d["curves"]["width"] == [2, 8] and len(d["curves"]["test_err"]) == 2
    assert d["config"]["n_train"] == 200 and d["config"]["noise"] == 0.15 and d["trained"] == 2
    assert d["analysis"]["shows_peak"] is False and d["verdict"].startswith("NO PEAK")
    # the same run again: everything comes from the store; --require-peak turns "no peak" into exit 1
    code, out, err = _cli(capsys, "double-descent", "--n-train", "200", "--n-test", "200", "--widths", "2,8",
                          "--epochs", "2", "--threads", "1", "--quiet", "--require-peak",
                          "--store", str(tmp_path / "s.sqlite"))
    assert code == 1 and "skipped 2" in out and "NO PEAK" in out
    code, out, err = _cli(capsys, "double-descent", "--axis", "depth")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--axis" in err
    code, out, err = _cli(capsys, "double-descent", "--noise", "2", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "noise" in err


def test_any_policy_and_the_peak_comparison():
    data = _toy()
    ref = eng.make_narrow(12, 9, 10, 0, "xavier_uniform")
    assert torch.equal(eng.make_narrow(12, 9, 10, 0, "xavier_uniform")[2].weight, ref[2].weight)
    assert ref[2].weight.abs().max() <= math.sqrt(6 / 18) + 1e-7 and ref[0].bias.abs().sum() == 0
    r = double_descent("width", data=data, widths=[2, 8], epochs=2, compare="xavier_uniform", batch_size=64)
    c = r.comparison
    assert c["policies"] == ["torch-default", "xavier_uniform"] and set(c["analysis"]) == set(c["policies"])
    assert isinstance(c["peak_moved"], bool) and c["statement"].startswith("INIT")
    assert {row["policy"] for row in r.runs} == {"torch-default", "xavier_uniform"} and r.trained == 4
    with pytest.raises(InitError, match="xavier_unifrom"):
        double_descent("width", data=data, policy="xavier_unifrom")


def test_either_spelling_of_torch_default_is_the_same_double_descent_policy():
    from initlab.experiments.double_descent import double_descent as dd
    with pytest.raises(InitError, match="different from policy"):
        dd("width", policy="torch_default", compare="torch-default", widths=[2], epochs=1, store=None)
