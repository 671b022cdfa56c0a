import torch

import initlab
from initlab.experiments.reproduce.symmetry import unit_stats


def test_constant_keeps_symmetry_random_breaks_it(housing_data):
    r = initlab.reproduce("symmetry", budget="quick", seeds=1)
    assert r.ok, [c.text for c in r.claims if not c.holds]
    units = r.data["units"]
    for key in ("fmnist / constant", "housing / constant", "housing / zeros"):
        assert all(d == 1 and m == 0.0 for run in units[key] for d, m in run["layers"])
    assert all(d > 1 for run in units["housing / torch-default"] for d, _ in run["layers"])
    assert any(p.endswith("unit_differences.png") for p in r.plots)


def test_unit_stats_counts_distinct_rows():
    lin = torch.nn.Linear(3, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1., 2, 3], [1, 2, 3], [0, 0, 0], [1, 2, 3]]))
        lin.bias.zero_()
    distinct, maxdiff = unit_stats(lin)
    assert distinct == 2 and maxdiff == 3.0
