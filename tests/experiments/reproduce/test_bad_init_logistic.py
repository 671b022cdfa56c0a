import initlab


def test_bad_init_flat_while_default_and_xavier_converge():
    r = initlab.reproduce("bad-init-logistic", budget="quick")
    assert r.ok, [c.text for c in r.claims if not c.holds]
    curves = r.data["loss_curves"]
    for s, bad in curves["bad"].items():
        assert max(bad) - min(bad) < 0.02                  # flat
        assert curves["xavier"][s][-1] < 0.1 < bad[-1]       # Xavier converges, bad does not
        assert curves["default"][s][-1] < 0.1
    acc = r.figure("bad", "accuracy on the training grid")
    assert 55 <= acc.mean <= 60                              # the source's "around 57 %"
    assert r.figure("xavier", "accuracy on the training grid").mean >= 90
    assert any(p.endswith("loss.png") for p in r.plots)
