"""auto's trained quality on a small, fast version of benchmarks/auto_quality.py, and its data calibration.

The suite's small version: 2 tasks (a deep ReLU MLP, a sigmoid MLP, both on digits), 2 seeds, trained as the
benchmark trains them: every column and seed of a task in one call of initlab's engine (train_runs).  Training on the CPU with fixed seeds and one thread is deterministic, so
these comparisons are reproducible, not flaky.
"""
from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import initlab
from initlab.models import MLP

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "auto_quality.py"


@pytest.fixture(scope="module")
def q():
    spec = importlib.util.spec_from_file_location("auto_quality", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # its dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    return mod


@pytest.fixture(scope="module")
def small(q):
    tasks = [q.Task("relu-d12", "digits:400", q.plain(64, 12, 32, "relu"), "sgd", 0.01, 6),
             q.Task("sigmoid-d5", "digits:400", q.plain(64, 5, 32, "sigmoid"), "sgd", 0.05, 6)]
    columns = ["torch-default", "xavier_normal", "kaiming_normal", "auto"]
    log = []
    threads = torch.get_num_threads()
    try:
        res = q.run(tasks, columns, seeds=2, log=log.append)
    finally:
        torch.set_num_threads(threads)
    return tasks, columns, res, log


def test_small_suite_auto_beats_torch_default_and_matches_the_best_fixed_scheme(q, small):
    tasks, columns, res, log = small
    for t in tasks:                           # trained by the engine's stacked-MLP kernel, all columns at once
        assert f"# {t.name}: engine path vectorized / stacked-mlp: stacked-MLP kernel" in "\n".join(log)
        assert f"# {t.name}: {len(columns) * 2} run(s) in" in "\n".join(log)
    s = q.summarize(res, tasks, columns)
    for t, means, best in s["rows"]:
        assert means["auto"] > means["torch-default"] + 5, (t.name, means)
        assert means["auto"] >= means[best] - 1.0, (t.name, best, means)
    assert s["below_default"] == [] and sorted(s["within"]) == sorted(t.name for t in tasks)
    assert all(s["mean"]["auto"] > s["mean"][c] for c in columns if c != "auto")


def test_sigmoid_mean_shift_is_what_the_data_calibration_removes(q, small):
    """Variance-only rules leave a sigmoid stack at chance (its outputs' mean 0.5 shifts every unit);
    auto with example_inputs centres those layers and trains."""
    tasks, _, res, _ = small
    auto = statistics.fmean(res[("sigmoid-d5", "auto")])
    assert statistics.fmean(res[("sigmoid-d5", "xavier_normal")]) < 30
    assert auto > 50


def test_a_diverged_run_counts_as_chance_and_save_resumes_by_chunk(q, tmp_path):
    """lr 1e38 blows every model up: the engine marks it diverged and the metric is chance (10 %), as the own loop
    counted it.  --save writes each finished (task, seed) chunk; a rerun trains only what is missing."""
    task = q.Task("boom", "digits:200", q.plain(64, 3, 16, "tanh"), "sgd", 1e38, 2)
    ok = q.Task("tiny", "digits:200", q.plain(64, 2, 16, "relu"), "sgd", 0.05, 10)
    save = str(tmp_path / "runs.json")
    threads = torch.get_num_threads()
    try:
        res = q.run([task, ok], ["torch-default", "auto"], seeds=2, log=lambda *_: None, save=save, block=1)
        assert res[("boom", "torch-default")] == res[("boom", "auto")] == [10.0, 10.0]
        assert all(v > 30 for v in res[("tiny", "auto")])
        data = json.loads(Path(save).read_text())
        assert data.pop("_lr_schedule") == "constant"               # the file says how its runs were trained
        assert sorted(data) == sorted(f"{n}|{c}|{s}" for n in ("boom", "tiny") for c in ("torch-default", "auto")
                                      for s in (0, 1))
        data.pop("tiny|auto|1")
        Path(save).write_text(json.dumps(data))
        log = []
        again = q.run([task, ok], ["torch-default", "auto"], seeds=2, log=log.append, save=save, block=1)
    finally:
        torch.set_num_threads(threads)
    assert log[0] == f"# 7 run(s) loaded from {save}, 1 to train"
    assert any(line.startswith("# tiny: 1 run(s) in") for line in log)
    assert again[("tiny", "auto")] == res[("tiny", "auto")]          # deterministic: the same number again
    with pytest.raises(SystemExit, match="--lr-schedule constant, not cosine"):   # never mixes schedules
        q.run([ok], ["auto"], seeds=2, log=lambda *_: None, save=save, block=1, schedule="cosine")


def test_a_cosine_schedule_reaches_the_benchmarks_training(q):
    """--lr-schedule goes into the engine's TrainConfig: the same models and batches end elsewhere."""
    ok = q.Task("tiny", "digits:200", q.plain(64, 2, 16, "relu"), "sgd", 0.05, 4)
    threads = torch.get_num_threads()
    try:
        const, _ = q.train_chunk(ok, [("auto", 0)])
        cos, out = q.train_chunk(ok, [("auto", 0)], schedule="cosine")
    finally:
        torch.set_num_threads(threads)
    assert q.train_config(ok, "cosine").lr_schedule == "cosine" and const != cos


def _outputs(model, x):
    out = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o.detach().double()))
             for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def test_with_example_inputs_every_hidden_layer_is_calibrated_and_the_plan_says_by_how_much():
    torch.manual_seed(0)
    m = MLP([20, 32, 32, 32, 5], "sigmoid")
    x = torch.rand(256, 20, generator=torch.Generator().manual_seed(1))        # pixels-like: mean 0.5
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    cal = [r for r in p.rows if r.action == "calibrate"]
    assert {r.param for r in cal} == {f"{i}.{k}" for i in (0, 2, 4) for k in ("weight", "bias")}
    assert p["6.weight"].action == "init" and "lecun_normal" in p["6.weight"].reason       # logits: analytic
    assert any("not calibrated: 6 (output layer" in n for n in p.notes)
    h = _outputs(m, x)
    for n in ("0", "2", "4"):
        r = p[f"{n}.weight"]
        assert r.applied["centered"] and r.applied["mean_share"] > 0.5 and r.applied["converged"]
        assert abs(float(h[n].pow(2).mean()) - 1) < 0.01 and float(h[n].mean(0).abs().max()) < 0.01
        assert p[f"{n}.bias"].applied["shift"] == r.applied["shift"] > 0
        planned = initlab.plan(m, "auto", example_inputs=x)[f"{n}.weight"]
        assert planned.scheme == "orthogonal" and "xavier_normal" in planned.reason     # drawn orthogonal, then scaled
        assert r.law["gain"] == pytest.approx(planned.law["gain"] * r.applied["scale"])
    assert p.verify(m) == []
    assert p.to_dict()["calibration"]["center"].startswith("unit means")


def test_zero_mean_layers_are_scaled_but_not_centred():
    torch.manual_seed(0)
    m = MLP([16, 64, 64, 3], "tanh")
    x = torch.randn(512, 16, generator=torch.Generator().manual_seed(2))
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    for n in ("0", "2"):
        r = p[f"{n}.weight"]
        assert not r.applied["centered"] and r.applied["mean_share"] < 0.5
        assert bool((m[int(n)].bias == 0).all())
    assert p["0.bias"].action == "calibrate" and p["0.bias"].applied["shift"] == 0   # reads the input: may centre
    assert p["2.bias"].action == "init" and "not centred: it reads tanh" in p["2.weight"].reason    # mean_fed
    h = _outputs(m, x)
    assert all(abs(float(h[n].pow(2).mean()) - 1) < 0.01 for n in ("0", "2"))


def test_without_inputs_auto_stays_analytic_and_deterministic():
    m = MLP([16, 32, 32, 3], "sigmoid")
    a, b = initlab.plan(m, "auto", seed=3), initlab.plan(m, "auto", seed=3)
    assert not any(r.action == "calibrate" for r in a.rows) and a.calibration is None
    assert [(r.scheme, r.kwargs) for r in a.rows] == [(r.scheme, r.kwargs) for r in b.rows]
    m1, m2 = MLP([16, 32, 32, 3], "sigmoid"), MLP([16, 32, 32, 3], "sigmoid")
    a.apply(m1), b.apply(m2)
    assert all(torch.equal(u, v) for u, v in zip(m1.parameters(), m2.parameters()))


def test_a_users_bias_choice_is_not_centred_and_calibrate_false_skips_the_data():
    m = MLP([16, 32, 32, 3], "sigmoid")
    x = torch.rand(128, 16, generator=torch.Generator().manual_seed(3))
    p = initlab.init_(m, "auto", seed=0, example_inputs=x, bias=0.1)
    assert p["0.weight"].action == "calibrate" and p["0.bias"].action == "init"
    assert bool((m[0].bias == 0.1).all()) and p.verify(m) == []
    q = initlab.plan(m, initlab.policy.auto(calibrate=False), example_inputs=x)
    assert not any(r.action == "calibrate" for r in q.rows)


def test_with_residual_branches_the_stem_is_scaled_but_not_centred():
    """Centring resets means that compound through a plain stack; a residual model's calibrated stem keeps a
    zero bias (auto_data.centres) and only its scale is measured."""
    from initlab.models import ResMLP
    torch.manual_seed(0)
    m = ResMLP(2, 16, "relu", n_in=20, n_out=3)
    x = torch.rand(256, 20, generator=torch.Generator().manual_seed(4))        # pixels-like: mean 0.5
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    r = p["inp.weight"]
    assert r.action == "calibrate" and "not centred" in r.reason and not r.applied["centered"]
    assert r.applied["mean_share"] > 0.5                                      # a plain stack would centre it
    assert p["inp.bias"].action == "init" and bool((m.inp.bias == 0).all())
    assert abs(float(_outputs(m, x)["inp"].pow(2).mean()) - 1) < 0.01
    assert any("not centred (the model has residual branches)" in n for n in p.notes)
    assert p.verify(m) == []


def test_mean_share_of_activations():
    from initlab.policy import auto_data as ad
    assert ad.mean_share(torch.sigmoid) > 0.8                       # 0.5^2 / E[sigmoid^2]
    assert ad.mean_share(torch.relu) == pytest.approx(1 / torch.pi, abs=5e-3)   # quadrature over the kink
    assert ad.mean_share(torch.tanh) < 1e-6


def test_a_relu_stack_is_centred_only_where_it_reads_the_input_and_drawn_orthogonal():
    """auto_data.mean_fed: a layer reading relu is scaled, not centred (its bias stays 0); the first layer reads
    pixels (mean 0.5) and is centred.  auto_data.draw: the calibrated layers of a plain stack are orthogonal."""
    torch.manual_seed(0)
    m = MLP([20, 32, 32, 32, 5], "relu")
    x = torch.rand(256, 20, generator=torch.Generator().manual_seed(5))
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    assert p["0.weight"].applied["centered"] and p["0.bias"].applied["shift"] > 0
    for n in ("2", "4"):
        r = p[f"{n}.weight"]
        assert r.scheme == "orthogonal" and "dynamical isometry" in r.reason and "kaiming_normal" in r.reason
        assert "not centred: it reads relu" in r.reason and p[f"{n}.bias"].action == "init"
        assert bool((m[int(n)].bias == 0).all())
        w = m[int(n)].weight.detach().double()
        gram = w @ w.T / (w @ w.T).diagonal().mean()             # orthogonal rows up to the calibrated scale
        assert torch.allclose(gram, torch.eye(32, dtype=torch.float64), atol=1e-5)
    assert p.verify(m) == []


def test_with_residual_branches_the_calibrated_stem_keeps_its_gaussian_draw():
    from initlab.models import ResMLP
    m = ResMLP(2, 16, "relu", n_in=20, n_out=3)
    p = initlab.plan(m, "auto", example_inputs=torch.rand(64, 20, generator=torch.Generator().manual_seed(6)))
    assert p["inp.weight"].action == "calibrate" and p["inp.weight"].scheme != "orthogonal"


def _jacobian_spread(ortho: bool, monkeypatch) -> float:
    """log10(largest / smallest singular value) of a deep tanh stack's input-output Jacobian after auto."""
    from initlab.policy import auto_data as ad
    monkeypatch.setattr(ad, "ORTHOGONAL", ortho)
    torch.manual_seed(0)
    m = MLP([32] + [32] * 16 + [32], "tanh")
    x = torch.randn(128, 32, generator=torch.Generator().manual_seed(7))
    initlab.init_(m, "auto", seed=0, example_inputs=x)
    spreads = []
    for i in range(4):
        s = torch.linalg.svdvals(torch.autograd.functional.jacobian(m, x[i:i + 1]).reshape(32, 32).double())
        spreads.append(float(torch.log10(s[0] / s[-1])))
    return statistics.fmean(spreads)


def test_orthogonal_draws_keep_a_deep_stack_closer_to_isometry(monkeypatch):
    """Why auto_data.draw is orthogonal: the Jacobian of 16 calibrated tanh layers has a much narrower spread of
    singular values from orthogonal draws than from Gaussian ones (Saxe et al. 2014; Pennington et al. 2017)."""
    gauss, ortho = _jacobian_spread(False, monkeypatch), _jacobian_spread(True, monkeypatch)
    assert ortho < gauss - 0.5, (ortho, gauss)


class _ProjPlusTable(nn.Module):
    """embed(x) + pos.weight[:T] (a projection plus a learned table), then a real residual x + fc(x)."""

    def __init__(self):
        super().__init__()
        self.embed, self.pos, self.fc, self.head = nn.Linear(4, 8), nn.Embedding(5, 8), nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x):
        t = x.view(x.shape[0], -1, 4)
        h = self.embed(t) + self.pos.weight[None, : t.shape[1]]
        h = h + self.fc(torch.relu(h))
        return self.head(h.mean(1))


def test_a_projection_plus_a_learned_table_is_not_a_residual_branch():
    """graph._branches: the two operands of embed(x) + pos.weight[:T] have no common source (the table's only
    link to x is a shape read), so `embed` is not 'the last layer of a residual branch'; h + fc(relu(h)) is."""
    from initlab.policy.graph import analyze
    from initlab.policy.trace import from_forward, from_fx
    m = _ProjPlusTable()
    assert [b.last for b in analyze(from_fx(m), "fx").branches] == ["fc"]
    assert [b.last for b in analyze(from_forward(m, torch.randn(3, 20)), "hooked").branches] == ["fc"]
    p = initlab.plan(_ProjPlusTable(), "auto")
    assert "residual branch" not in p["embed.weight"].reason and "residual branch 1/1" in p["fc.weight"].reason


def test_the_input_layer_of_a_relu_stack_starts_with_torchs_default_bias_scaled_with_its_weight():
    """auto_data.input_bias: kinks spread over the data, not all through the input's origin."""
    torch.manual_seed(0)
    m = MLP([8, 32, 32, 1], "relu")
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(8))        # standardized: not centred
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    b = p["0.bias"]
    assert b.scheme == "uniform" and b.kwargs["b"] == pytest.approx(8 ** -0.5) == -b.kwargs["a"] and "kink" in b.reason
    s = p["0.weight"].applied["scale"]
    assert not p["0.weight"].applied["centered"] and float(m[0].bias.detach().abs().max()) <= s * 8 ** -0.5 + 1e-6
    assert float(m[0].bias.detach().std()) > 0.2 * s * 8 ** -0.5                             # a real spread, not zeros
    assert p["2.bias"].scheme == "zeros" and p.verify(m) == []                       # hidden layers: 0
    assert initlab.plan(MLP([8, 32, 32, 1], "tanh"), "auto", example_inputs=x)["0.bias"].scheme == "zeros"
    assert initlab.plan(m, "auto")["0.bias"].scheme == "zeros"                       # analytic: unchanged


def test_a_deep_relu_stack_has_no_centring_sawtooth():
    """Behaviour of auto_data.mean_fed: with centring by share alone, every few relu layers crossed the 50 % share
    and were shifted and scaled ~x2.2; reading relu outputs, they are now only scaled, by about 1 (orthogonal
    draws with relu's gain keep the second moment)."""
    torch.manual_seed(0)
    m = MLP([20] + [32] * 12 + [5], "relu")
    x = torch.rand(256, 20, generator=torch.Generator().manual_seed(9))
    p = initlab.init_(m, "auto", seed=0, example_inputs=x)
    rows = [r for r in p.rows if r.action == "calibrate" and r.param.endswith("weight")][1:]
    assert len(rows) == 11 and not any(r.applied["centered"] for r in rows)
    assert max(r.applied["mean_share"] for r in rows) > 0.5                 # the old rule would have centred these
    assert all(0.7 < r.applied["scale"] < 1.4 for r in rows), [r.applied["scale"] for r in rows]


def test_summary_says_whether_auto_below_default_is_more_than_seed_noise(q):
    """A task where auto trails torch default gets a paired (same seed) 95 % t-interval and a verdict: a shift
    smaller than the seed-to-seed spread is 'not significantly different', a consistent one is 'worse'."""
    task = q.Task("t", "digits:400", q.plain(64, 2, 16, "relu"), "sgd", 0.05, 1)
    cols = ["torch-default", "kaiming_normal", "auto"]
    default = [80.0, 82.0, 79.0, 85.0, 81.0]
    noisy = {("t", "torch-default"): default, ("t", "kaiming_normal"): default,
             ("t", "auto"): [81.0, 80.0, 80.5, 83.0, 81.5]}                       # paired diffs +1 -2 +1.5 -2 +0.5
    consistent = {**noisy, ("t", "auto"): [v - 0.5 + 0.01 * i for i, v in enumerate(default)]}
    for res, verdict in ((noisy, "not significantly different"), (consistent, "auto significantly worse")):
        s = q.summarize(res, [task], cols)
        assert s["below_default"] == ["t"]
        d, lo, hi, reg = s["paired"]["t"]
        assert not reg and lo <= d <= hi and d == pytest.approx(statistics.fmean(res[("t", "auto")]) - 81.4)
        assert f"t: auto - torch-default, paired by seed: {d:+.3g} points" in q.table(s, cols, 5)
        assert verdict in q.table(s, cols, 5) and "auto below torch-default: 1/1" in q.table(s, cols, 5)
    # a Hugging Face model's default is its constructor's init (column torch-default-ctor)
    ctor = {(("t", "torch-default-ctor") if c == "torch-default" else (n, c)): v for (n, c), v in consistent.items()}
    cols = ["torch-default-ctor", "kaiming_normal", "auto"]
    s = q.summarize(ctor, [task], cols)
    assert s["default"] == "torch-default-ctor" and s["below_default"] == ["t"]
    assert "auto below torch-default-ctor: 1/1" in q.table(s, cols, 5)


def test_calibrating_part_of_a_layer_scales_only_those_units_and_rows():
    """calibrate_layers(parts=...): units [start, stop) reach mean of squares 1, their rows are scaled by one
    factor, every other row (and the bias outside the part) keeps its draw."""
    from initlab.policy.calibrate import calibrate_layers
    torch.manual_seed(0)
    lin = nn.Linear(8, 12)
    x = 3 * torch.randn(256, 8, generator=torch.Generator().manual_seed(3))
    w0, b0 = lin.weight.detach().clone(), lin.bias.detach().clone()
    model = nn.Sequential(lin)
    res = calibrate_layers(model, {"0": lin}, x, center=False, parts={"0": (0, 6, False)})
    with torch.no_grad():
        y = model(x).double()
    assert abs(float(y[:, :6].pow(2).mean()) - 1) < 0.01
    assert float(y[:, 6:].pow(2).mean()) > 2                                # the rest stays as drawn (x is loud)
    assert torch.equal(lin.weight[6:], w0[6:]) and torch.equal(lin.bias[6:], b0[6:])
    assert torch.allclose(lin.weight[:6], w0[:6] * res["0"]["scale"])
    assert res["0"]["converged"] and res["0"]["scale"] < 1


def test_a_hugging_face_conv1d_is_centred_per_output_unit_not_per_token():
    """HF's Conv1D returns (batch, tokens, out) and is not an nn.Linear: its units are the last dim (a centring
    once read the token dim as the units and failed on the bias's shape)."""
    from initlab.policy.calibrate import calibrate_layers
    Conv1D = pytest.importorskip("transformers.pytorch_utils").Conv1D
    torch.manual_seed(0)
    c = Conv1D(12, 8)                                          # nf=12 out, nx=8 in; weight (8, 12)
    c.weight.data.normal_(0, 0.3)
    x = torch.rand(64, 5, 8, generator=torch.Generator().manual_seed(4)) + 1    # offset inputs: large unit means
    model = nn.Sequential(c)
    res = calibrate_layers(model, {"0": c}, x, center=True)
    with torch.no_grad():
        y = model(x).double()
    assert res["0"]["centered"] and res["0"]["converged"]
    assert float(y.mean(dim=(0, 1)).abs().max()) < 0.02
    assert abs(float((y - y.mean(dim=(0, 1))).pow(2).mean()) - 1) < 0.02
