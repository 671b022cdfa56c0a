"""Failed runs (tasks that failed after their retries, config["failed"]) are listed where users look: the
terminal table, the HTML report and the double-descent text summary.  No Ray needed: results are built here."""
from initlab.experiments.dd_result import DoubleDescentResult
from initlab.experiments.records import CompareResult, RunRecord
from initlab.experiments.stats import summarize
from initlab.reports import html, table

FAILED = [{"policy": "xavier_uniform", "seed": 1, "error": "RuntimeError: injected <b>failure</b>", "attempts": 3}]


def _result(failed):
    runs = [RunRecord("zeros", s, "h", history=[{"epoch": 1, "val_acc": 0.1 + s / 10}],
                      final={"epoch": 1, "val_acc": 0.1 + s / 10}) for s in (0, 1)]
    return CompareResult(config={"data": "digits", "model": "mlp", "epochs": 1, "failed": failed}, runs=runs,
                         summary=summarize(runs, "val_acc", higher_is_better=True), path="vectorized")


def test_the_terminal_table_lists_failed_runs_and_only_then():
    text = table.terminal_table(_result(FAILED))
    assert "FAILED: 1 run(s) did not finish" in text
    assert "policy xavier_uniform seed 1: RuntimeError: injected <b>failure</b> (3 attempts)" in text
    assert "FAILED" not in table.terminal_table(_result([]))
    empty = CompareResult(config={"failed": FAILED}, runs=[])            # every task failed: still named
    assert "policy xavier_uniform seed 1" in table.terminal_table(empty)


def test_the_html_report_has_a_failed_runs_section_escaped(tmp_path):
    page = html.render_html(_result(FAILED), *_pngs(tmp_path))
    assert "<h2>Failed runs</h2>" in page and "xavier_uniform" in page
    assert "injected &lt;b&gt;failure&lt;/b&gt;" in page and "<b>failure" not in page
    assert "Failed runs" not in html.render_html(_result([]), *_pngs(tmp_path))


def _pngs(tmp_path):
    import base64
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
    p = tmp_path / "x.png"
    p.write_bytes(png)
    return p, p


def test_the_double_descent_summary_lists_failed_runs():
    cfg = {"data": "mnist1d", "n_train": 100, "noise": 0.15, "n_in": 40, "n_out": 10, "lr": 1e-3, "batch_size": 32,
           "failed": [{"policy": "auto", "width": 8, "seed": 2, "n_train": 100, "error": "WorkerCrashedError: died",
                       "attempts": 3}]}
    res = DoubleDescentResult(axis="width", policy="auto", config=cfg, config_hashes={}, widths=[4, 8], seeds=[0, 2],
                              epochs=3)
    text = res.summary()
    assert "FAILED: 1 run(s) did not finish" in text
    assert "policy auto seed 2 width 8 n_train 100: WorkerCrashedError: died (3 attempts)" in text
    res.config = dict(cfg, failed=[])
    assert "FAILED" not in res.summary()
