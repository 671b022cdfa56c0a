import initlab


def test_both_inits_reach_a_sane_test_mse(housing_data):
    r = initlab.reproduce("housing", budget="quick")
    assert r.ok, [c.text for c in r.claims if not c.holds]
    ref = r.data["reference_mse"]
    assert 1.2 < ref["training_mean"] < 1.6           # variance of the held-out prices, in ($100k)^2
    for key, vals in r.data["test_mse"].items():
        if not key.endswith("auto"):
            assert all(0.5 < v < ref["training_mean"] for v in vals), (key, vals)
    # the published figures are shown beside ours
    assert r.figure("2-4-3-1 / torch-default").published is not None
    assert r.figure("2-256-256-256-1 / xavier_normal").published is not None
