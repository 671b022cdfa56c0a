import initlab


def test_converges_on_separable_not_on_xor():
    r = initlab.reproduce("perceptron", budget="quick")
    assert r.ok, [c for c in r.claims if not c.holds]
    mpe = r.data["mistakes_per_epoch"]
    assert all(m[-1] == 0 for m in mpe["separable"].values())
    assert all(min(m) > 0 for m in mpe["xor"].values())
    assert r.figure("separable set", "final training accuracy").mean == 100.0
    assert r.figure("XOR-like set", "runs converged within the cap").mean == 0.0
    assert r.plots and all(p.endswith(".png") for p in r.plots)


def test_cli_list_and_unknown_name():
    from initlab.cli.main import main
    assert main(["reproduce", "--list"]) == 0
    assert main(["reproduce", "perceptrn"]) == 2
