"""Reports: terminal table, PNG plots, self-contained HTML, write_report."""
from __future__ import annotations

import base64
import json
import math
import re
import warnings
from pathlib import Path

import pytest

from initlab.experiments.records import CompareResult, RunRecord
from initlab.experiments.stats import summarize
from initlab.reports import terminal_table, write_html, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


NASTY = "<script>alert('x')</script> & \"quotes\""


@pytest.fixture(scope="module")
def written(tmp_path_factory, build_result):
    """One report (plots take ~1 s), written from a result without a summary and with a nasty config value."""
    res = build_result(with_summary=False)
    res.config["note"] = NASTY
    out = tmp_path_factory.mktemp("report")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = write_report(res, out)
    return res, out, paths


def assert_png(path, min_bytes=10_000):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert w >= 600 and h >= 400
    return data


def test_terminal_table(result):
    text = terminal_table(result)
    lines = text.splitlines()
    assert lines[0] == "fashion-mnist · mlp:784-128-64-10 · 8 epochs · sgd lr=0.05 · batch 128"
    assert "val_acc at the final epoch (higher is better)" in text
    header = next(i for i, l in enumerate(lines) if l.startswith("rank"))
    body = lines[header + 2: header + 7]
    assert [l.split()[1] for l in body] == [r["policy"] for r in result.summary]
    assert body[0].split()[0] == "1" and "best" in body[0]
    zeros = next(l for l in body if " zeros " in l)
    assert zeros.rstrip().split()[-2] == "*" and "0.1000 ± 0.0000" in zeros and "<0.001" in zeros
    assert "1/3" in next(l for l in body if "big-normal" in l)
    assert "(1 seed)" in next(l for l in body if "orthogonal" in l)
    # columns are aligned: the right-aligned "seeds" and "diverged" cells end under their headers
    for col in ("seeds", "diverged"):
        end = lines[header].index(col) + len(col)
        for l in body:
            assert l[end - 1].isdigit() and l[end] == " ", (col, l)
    assert len({len(l) for l in lines[header:header + 2]}) == 1
    assert lines[-1] == "trainer path: sequential (torch.func.vmap is unavailable for this model <with BatchNorm & co>)"
    assert "Holm-corrected over 3 comparison(s), alpha=0.05" in text
    assert "2 run(s) were already in the store" in text


def test_terminal_table_computes_summary_and_handles_empty(build_result):
    res = build_result(with_summary=False)
    text = terminal_table(res)
    assert "rank" in text and "xavier" in text
    assert res.summary == []                         # not mutated
    empty = CompareResult(config={"model": "m", "data": "d"}, runs=[])
    assert "(no runs)" in terminal_table(empty)
    assert "trainer path: (not recorded)" in terminal_table(empty)


def test_plots_are_valid_pngs(written):
    res, out, paths = written
    assert_png(paths["curves"])
    assert_png(paths["final"])


def test_plots_regression_with_infinite_loss(tmp_path):
    runs = []
    for p, rate in (("he", 1.0), ("huge$\\q$", 0.2)):            # "$" in names must not start mathtext
        for s in range(3):
            h = [{"epoch": e, "train_loss": 50 * math.exp(-rate * e) + 0.01 * (s + 1),
                  "val_loss": 60 * math.exp(-rate * e), "val_mse": 60 * math.exp(-rate * e) + 0.01 * s}
                 for e in range(1, 9)]
            status = "finished"
            if p.startswith("huge") and s == 0:
                h = h[:3]
                h[-1].update(train_loss=math.inf, val_loss=math.nan, val_mse=math.inf)
                status = "diverged"
            runs.append(RunRecord(p, s, "x", status=status, history=h,
                                  final={k: v for k, v in h[-1].items() if k != "epoch"}))
    res = CompareResult(config={"model": "mlp:8-64-1", "data": "housing $5", "epochs": 8, "optimizer": "adam",
                                "lr": 1e-3, "batch_size": 64}, runs=runs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = write_report(res, tmp_path)
    assert_png(paths["curves"])
    assert_png(paths["final"])
    assert res.summary[0]["metric"] == "val_mse" and res.summary[-1]["mean"] == math.inf
    summary = json.loads(Path(paths["summary"]).read_text())
    assert summary["summary"][-1]["mean"] is None             # strict JSON: inf -> null


def test_html_is_self_contained_and_escaped(written):
    result, out, paths = written
    text = Path(paths["html"]).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script" not in text and "<link" not in text and "http://" not in text and "https://" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert "&lt;with BatchNorm &amp; co&gt;" in text               # path_reason escaped
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(imgs) == 2
    for b, png in zip(imgs, (paths["curves"], paths["final"])):
        assert base64.b64decode(b) == Path(png).read_bytes()
    # the summary table: one row per policy, in rank order, and per-run final metrics
    summary = text.split("<table class=summary>")[1].split("</table>")[0]
    rows = re.findall(r"<tr class=\"[a-z]*\"><td class=\"num\">(\d+)</td><td class=\"\">([^<]+)</td>", summary)
    assert rows == [(str(r["rank"]), r["policy"]) for r in result.summary]
    assert '<tr class="worse">' in summary and "* yes" in summary
    runs = text.split("<table class=runs>")[1].split("</table>")[0]
    assert runs.count("<tr") == 1 + len(result.runs)
    assert '<tr class="diverged"><td class="">big-normal</td><td class="num">1</td>' in runs
    for key in ("model", "data", "epochs", "optimizer", "lr", "batch_size"):
        assert f"<th>{key}</th>" in text


def test_write_report(written, config):
    result, out, paths = written
    assert set(paths) >= {"html", "curves", "final", "summary", "png"}
    assert paths["png"] == [paths["curves"], paths["final"]]
    assert result.report == paths
    for name in ("report.html", "curves.png", "final.png", "summary.json"):
        assert (out / name).is_file()
    assert paths["html"] == str(out / "report.html")
    s = json.loads((out / "summary.json").read_text())
    assert s["config"] == dict(config, note=NASTY) and s["path"] == "sequential" and s["skipped"] == 2
    assert [r["policy"] for r in s["summary"]] == [r["policy"] for r in result.summary]
    # the summary was missing: write_report filled it (val_acc, higher is better)
    assert result.summary[0]["metric"] == "val_acc" and result.summary[0]["rank"] == 1


def test_write_html_alone(result, tmp_path):
    path = write_html(result, tmp_path / "sub" / "r.html", curves_png=_tiny_png(tmp_path), final_png=_tiny_png(tmp_path))
    text = Path(path).read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 2 and "zeros" in text


def _tiny_png(tmp_path):
    p = tmp_path / "tiny.png"
    p.write_bytes(PNG_MAGIC + b"\0" * 64)
    return p


def test_empty_result_still_writes_a_report(tmp_path):
    res = CompareResult(config={"model": "m", "data": "d"}, runs=[], path="none",
                        path_reason="every run was already in the store")
    paths = write_report(res, tmp_path)
    assert_png(paths["curves"], min_bytes=1000)
    assert_png(paths["final"], min_bytes=1000)
    assert "(no runs)" in Path(paths["html"]).read_text()


def test_table_single_seed_interval_split_and_plural(result):
    from initlab.reports.table import ci_cell
    orth = next(r for r in result.summary if r["policy"] == "orthogonal")
    assert ci_cell(orth) == "-"
    one = CompareResult(config=dict(result.config, epochs=1, eval_split="test"), runs=result.runs,
                        summary=result.summary, path="vectorized")
    text = terminal_table(one)
    assert " · 1 epoch · " in text.splitlines()[0]
    assert "measured on the test split" in text
    assert "measured on" not in terminal_table(result)


def test_mean_and_halfwidth_share_their_decimals():
    from initlab.reports.table import mean_ci
    r = {"mean": 0.8406, "ci95": [0.84, 0.8412], "ci_halfwidth": 0.000621, "seeds": 3}
    assert mean_ci(r) == "0.8406 ± 0.0006"
    assert mean_ci(dict(r, ci_halfwidth=0.00001)) == "0.8406 ± <0.0001"
    assert mean_ci(dict(r, ci_halfwidth=0.0123)) == "0.8406 ± 0.0123"


def test_a_target_no_policy_reaches_still_gets_its_column(build_result):
    res = build_result(with_summary=False)
    res.summary = summarize(res.runs, "val_acc", higher_is_better=True, target=2.0)   # unreachable
    text = terminal_table(res)
    assert "epochs→target" in text
    assert all(r["epochs_to_target"] is None and r["reached_target"] == 0 for r in res.summary)
