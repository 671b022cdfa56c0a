import initlab


def test_zeros_ones_at_chance_general_rule_far_above_uniform():
    r = initlab.reproduce("constant-and-uniform", budget="quick")
    assert r.ok, [c.text for c in r.claims if not c.holds]
    acc = {f.label: f for f in r.figures if f.metric == "validation accuracy"}
    for label in ("all zeros", "all ones"):
        assert all(v <= 14.0 for v in acc[label].values)       # 10 classes: chance is about 10 %
    assert acc["general rule U(+-1/sqrt n)"].mean >= acc["uniform [0, 1)"].mean + 20
    # published figures are printed beside ours, never substituted for them
    assert acc["all zeros"].published == 9.625
    assert acc["all zeros"].values and acc["all zeros"].seeds == len(r.seeds)
    assert any(p.endswith("accuracy_and_loss.png") for p in r.plots)
