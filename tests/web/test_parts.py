"""The demo's parts without a browser: bounds, gradient taps, the init pictures, live training, the CLI."""
import math
import threading

import pytest
import torch

from initlab.errors import InitError
from initlab.web.settings import BUILT, parse

POLICIES = ["zeros", "auto", "normal", "torch-default"]
OK = dict(init_a="zeros", init_b="auto", activation="relu", depth=10, width=256, dataset="moons", samples=400,
          lr=0.1, optimizer="sgd", epochs=3, batch_size=16, seed=0, model=BUILT)


def settings(**kw):
    return parse(**{**OK, **kw}, policies=POLICIES)


@pytest.mark.parametrize("arg, value, allowed", [("depth", 10000, "1 to 64"), ("width", 4096, "1 to 2048"),
                                                 ("epochs", 501, "1 to 500"), ("samples", 20001, "10 to 20000"),
                                                 ("depth", 2.5, "1 to 64"), ("depth", None, "1 to 64")])
def test_values_beyond_the_bounds_are_one_readable_message(arg, value, allowed):
    with pytest.raises(InitError) as e:
        settings(**{arg: value})
    msg = str(e.value)
    label = {"samples": "samples", "batch_size": "batch size"}.get(arg, arg)
    assert f"{label}={value!r}" in msg and allowed in msg and "Fix:" in msg


def test_learning_rate_policy_and_model_are_checked():
    for lr in (0, -1, float("nan"), "x"):
        with pytest.raises(InitError, match="learning rate"):
            settings(lr=lr)
    with pytest.raises(InitError, match="init A.*Did you mean 'zeros'"):
        settings(init_a="zero")
    with pytest.raises(InitError, match="LR schedule='cosin'.*'constant', 'cosine', 'linear'"):
        settings(lr_schedule="cosin")
    # the page never takes code: only the built MLP, or the model given on the command line
    with pytest.raises(InitError, match="--model"):
        settings(model="evil.py:build")
    s = parse(**{**OK, "model": "resmlp:2:16"}, policies=POLICIES, cli_model="resmlp:2:16")
    assert s.model == "resmlp:2:16"
    s = settings(depth=64.0, width="2048")
    assert (s.depth, s.width) == (64, 2048) and isinstance(s.depth, int)


def test_gradient_tap_gives_the_gradient_of_the_loss_at_each_activation():
    import torch.nn.functional as F
    from initlab import diagnose
    from initlab.web.grads import GradTap, histogram_layers
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 3))
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    with GradTap(model) as tap:
        d = diagnose(model, x, y)
    acts, grads = histogram_layers(d, tap)
    assert [lab for lab, _ in acts] == ["layer 1 Tanh", "layer 2 Tanh"]
    # reference: the same loss, the gradient with respect to each Tanh output by autograd
    h1 = torch.tanh(model[0](x))
    h2 = torch.tanh(model[2](h1))
    g1, g2 = torch.autograd.grad(F.cross_entropy(model[4](h2), y), [h1, h2])
    torch.testing.assert_close(grads[0][1], g1.flatten())
    torch.testing.assert_close(grads[1][1], g2.flatten())
    assert all(not h._forward_hooks for h in model.modules())     # the tap leaves no hook behind
    assert float(acts[0][1].abs().max()) <= 1.0 and acts[0][1].numel() > 0


def test_init_pictures_zeros_collapse_and_auto_stays_healthy():
    from initlab.web.prepare import dataset, init_side
    s = settings(depth=6, width=32)
    ds, _ = dataset(s)
    zeros, auto = init_side(s, ds, "zeros"), init_side(s, ds, "auto")
    assert len(zeros.acts) == len(zeros.grads) == 6
    assert all(float(v.abs().max()) == 0 for _, v in zeros.acts + zeros.grads)
    assert "symmetric" in zeros.diagnosis.kinds and auto.diagnosis.healthy
    stds = [float(v.std()) for _, v in auto.acts]
    assert min(stds) > 0.2 and max(stds) < 3          # right-sized: every layer keeps its spread
    assert {r.scheme for r in zeros.plan.rows} == {"zeros"}
    # same seed: the two sides start from the same architecture draw and see the same batch
    assert [n for n, _ in zeros.model.named_parameters()] == [n for n, _ in auto.model.named_parameters()]


def _training(s, policies):
    from initlab.experiments.engine import TrainConfig, TrainData
    from initlab.web.prepare import dataset, init_side, val_split
    ds, _ = dataset(s)
    sides = [init_side(s, ds, p) for p in policies]
    xv, yv = val_split(ds)
    data = TrainData("classification", ds.x_train, ds.y_train, xv, yv, 2, "val")
    cfg = TrainConfig(epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, loss="cross_entropy",
                      lr_schedule=s.lr_schedule)
    return sides, data, cfg


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_live_run_reports_exactly_what_fit_computes_and_same_init_means_same_run(schedule):
    import copy
    from initlab.experiments.engine import STACKS, fit
    from initlab.web.live import LiveRun
    s = settings(depth=3, width=16, epochs=3, lr_schedule=schedule)
    assert s.lr_schedule == schedule
    sides, data, cfg = _training(s, ["auto", "auto"])
    reference = [copy.deepcopy(sides[0].model)]
    run = LiveRun([sd.model for sd in sides], ["a", "b"], data, cfg, "cross_entropy", s.seed, two_d=True).start()
    run.thread.join(60)
    snap = run.snapshot()
    assert snap["status"] == "finished" and snap["finished"]
    assert snap["history"][0] == snap["history"][1]            # same init, seed and batches: the same run
    want = fit(STACKS["sequential"](reference, [s.seed], data, cfg, "cross_entropy"), data, cfg)[0].history
    got = snap["history"][0]
    assert [r["epoch"] for r in got] == [1, 2, 3]
    for g, w in zip(got, want):
        assert g["train_loss"] == pytest.approx(w["train_loss"], abs=1e-12)
        assert g["val_loss"] == pytest.approx(w["val_loss"], abs=1e-12)
        assert g["val_acc"] == pytest.approx(w["val_acc"], abs=1e-12)
    assert snap["probs"] is not None and snap["probs_epoch"] == 3 and snap["probs"][0].shape == (80 * 80,)


def test_live_run_stops_between_steps_and_keeps_the_finished_epochs():
    from initlab.web.live import LiveRun
    s = settings(depth=2, width=8, epochs=500, samples=200)
    sides, data, cfg = _training(s, ["zeros", "auto"])
    run = LiveRun([sd.model for sd in sides], ["a", "b"], data, cfg, "cross_entropy", s.seed, two_d=False)
    seen = threading.Event()
    inner = run._on_epoch

    def on_epoch(*a):
        inner(*a)
        seen.set()
    run._on_epoch = on_epoch
    run.start()
    assert seen.wait(60)
    run.stop()
    run.thread.join(60)
    snap = run.snapshot()
    assert snap["status"] == "stopped" and 1 <= len(snap["history"][1]) < 500
    assert all(math.isfinite(r["train_loss"]) for r in snap["history"][1])
    assert not any(m._forward_hooks for sd in sides for m in sd.model.modules())


def test_toy_sets_are_seeded_balanced_and_standardized():
    from initlab.web.toy2d import make_toy
    for name in ("moons", "circles", "spirals"):
        a, b = make_toy(name, 300, 1), make_toy(name, 300, 1)
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
        assert a.x_train.shape == (300, 2) and a.n_val == 100
        assert abs(float(a.y_train.float().mean()) - 0.5) < 0.1
        assert a.x_train.mean(0).abs().max() < 1e-5 and (a.x_train.std(0) - 1).abs().max() < 0.01
        assert not torch.equal(make_toy(name, 300, 2).x_train, a.x_train)


def test_handlers_turn_errors_into_the_message():
    from initlab.web.handlers import Handlers
    h = Handlers()
    out = h.show_init("zeros", "auto", "relu", 10000, 256, "moons", 400, 0.1, "sgd", 3, 16, 0, BUILT)
    assert out[0].startswith("**Error:**") and "depth=10000" in out[0] and len(out) == 6
    first = next(h.train("zeros", "auto", "relu", 4, 8, "fashion-mnist", 50, 0.1, "sgd", 3, 16, 0,
                         "resmlp:2:16"))
    assert first[0].startswith("**Error:**") and "--model" in first[0] and len(first) == 10


def test_cli_demo_checks_its_arguments_before_starting(capsys):
    from initlab.cli.main import main
    assert main(["demo", "--port", "70000"]) == 2
    assert "--port=70000" in capsys.readouterr().err
    assert main(["demo", "--model", "nonsense:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "spec" in err
    assert main(["demo", "--help"]) == 0
    assert "127.0.0.1" in capsys.readouterr().out


def test_cli_demo_binds_this_machine_only_by_default():
    from initlab.cli.main import build_parser
    args = build_parser().parse_args(["demo"])
    assert (args.host, args.port, args.model, args.threads) == ("127.0.0.1", None, None, 1)


def test_a_page_that_goes_away_stops_its_run():
    from initlab.web.handlers import Handlers
    h = Handlers()
    gen = h.train("zeros", "auto", "relu", 2, 8, "moons", 200, 0.1, "sgd", 500, 16, 0, BUILT, session="s1")
    first = next(gen)
    assert first[0].startswith("training both inits") and len(first) == 10
    run = h.runs["s1"]
    next(gen)                                  # one refresh: the run is going
    gen.close()                                # what Gradio does when the browser leaves
    run.thread.join(30)
    assert run.snapshot()["status"] == "stopped" and "s1" not in h.runs
