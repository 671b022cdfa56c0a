"""The result of a double-descent sweep (JSON-able through the one json_safe serializer)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .dd_analysis import _pct
from .jsonsafe import json_safe


@dataclass
class DoubleDescentResult:
    axis: str
    policy: str
    config: dict
    config_hashes: dict                      # {n_train: hash}
    widths: list
    seeds: list
    epochs: int
    curves: dict = field(default_factory=dict)      # model-wise: width, train_err, test_err (+ std) (final epoch, seed mean)
    epochwise: dict = field(default_factory=dict)   # eval epochs, train/test matrices (width x epoch), analysis
    samplewise: dict = field(default_factory=dict)  # samples, {width: test errors}, analysis
    analysis: dict = field(default_factory=dict)    # analyze_modelwise of `curves`
    comparison: dict | None = None                  # with compare=: the other policy's analysis and the peak shift
    verdict: str = ""
    figures: dict = field(default_factory=dict)     # name -> PNG path
    runs: list = field(default_factory=list)        # per (n_train, width, seed): final metrics, status
    trained: int = 0
    skipped: int = 0
    seconds: float = 0.0
    path: str = "masked-buckets"
    buckets: list = field(default_factory=list)
    threads: int = 0
    store: str = ""

    def to_dict(self) -> dict:
        return json_safe(asdict(self))

    def summary(self) -> str:
        """A few human lines: what ran, the measured figures, the verdict."""
        c = self.config
        lines = [f"double descent, axis={self.axis}: {c['data']} (n_train={c['n_train']}, label noise {_pct(c['noise'])}), "
                 f"MLP {c['n_in']}-h-h-{c['n_out']}, widths {self.widths[0]}..{self.widths[-1]} ({len(self.widths)}), "
                 f"{self.epochs} epochs Adam lr={c['lr']} batch {c['batch_size']}, seeds {self.seeds}, policy {self.policy}",
                 f"trained {self.trained} models, skipped {self.skipped} found in the store, {self.seconds:.1f} s "
                 f"({self.threads} torch thread(s), {self.path})"]
        if self.curves:
            lines.append("width  train_err  test_err")
            for w, a, b in zip(self.curves["width"], self.curves["train_err"], self.curves["test_err"]):
                lines.append(f"{w:>5}  {a:9.2%}  {b:8.2%}")
        if self.axis == "epochs" and self.epochwise.get("analysis"):
            ws = self.epochwise["analysis"]["widths_with_epochwise_dd"]
            lines.append("epoch-wise double descent (test error falls, rises >= "
                         f"{100 * self.analysis.get('min_rise', 0.03):.0f} points, falls again) at widths: "
                         + (", ".join(map(str, ws)) if ws else "none"))
        if self.axis == "samples" and self.samplewise.get("analysis"):
            a = self.samplewise["analysis"]
            lines.append("samples " + " ".join(f"{n:>7}" for n in a["samples"]))
            for r in a["per_width"]:
                lines.append(f"w={r['width']:<5} " + " ".join(f"{e:7.2%}" for e in r["test_err"])
                             + ("   more data hurts: +%.1f points %s" % (100 * r["max_increase"], r["increase_between"])
                                if r["non_monotone"] else ""))
        failed = self.config.get("failed") or []
        if failed:                     # not in the curves (NaN there), not stored: a rerun trains them
            lines.append(f"FAILED: {len(failed)} run(s) did not finish (not stored; rerunning the same command "
                         "trains them):")
            lines += [f"  policy {f.get('policy')} seed {f.get('seed')} width {f.get('width')}"
                      + (f" n_train {f['n_train']}" if f.get("n_train") is not None else "")
                      + f": {f.get('error') or 'failed'}" + (f" ({f['attempts']} attempts)" if f.get("attempts") else "")
                      for f in failed]
        if self.verdict:
            lines.append(self.verdict)
        if self.comparison:
            lines.append(self.comparison["statement"])
        for k, p in self.figures.items():
            lines.append(f"figure {k}: {p}")
        return "\n".join(lines)


