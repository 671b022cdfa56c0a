import initlab
from initlab.data import load
from initlab.experiments.reproduce import he_binary


def test_test_set_disjoint_and_source_overlap_found():
    r = initlab.reproduce("he-binary", budget="quick", seeds=1)
    assert r.ok, [c.text for c in r.claims if not c.holds]
    assert r.data["shared_rows_per_seed"] == [0]
    src = r.data["source_test_set"]
    assert src["shared"] == src["test"] == 20          # the source tested on its first 20 training points
    assert any("first 20" in n for n in r.notes)
    assert r.figure("he_normal", "test accuracy, 1000 disjoint points").mean >= 90


def test_disjointness_is_checked_on_the_real_split():
    ds = load("points2d", seed=3, n_test=he_binary.N_TEST)
    assert he_binary._shared_rows(ds.x_train, ds.x_test) == 0
    assert he_binary._shared_rows(ds.x_train, ds.x_train[:5]) == 5     # the checker does find shared rows
