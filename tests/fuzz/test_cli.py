"""Fuzz the command line: random flags and values for every command, run in-process (issue 13, Checks).

Each example is one argv: a command, its positional argument, then flags drawn from valid, cheap values
and hostile ones (out of range, not a number, NaN, huge, empty, paths that cannot be written), sometimes an
unknown flag, a missing value or a flag given twice.  The run happens in a fresh folder under a temporary
base (so default paths like ./initlab-runs land there), with stdout and stderr captured.  Asserted:

* the exit status is 0, 1 (only for the commands that document it: a check found problems) or 2;
* no traceback and no "set INITLAB_DEBUG=1" line (the catch-all for an unexpected exception);
* with status 2, stderr is exactly one line, "initlab: error: ...";
* nothing is written outside the temporary base (the repository and $HOME are unchanged).

Work is kept tiny: 1 epoch, 1 seed, 50 samples, a 64-4-10 MLP, one thread, no worker processes, and
`initlab demo` never serves (its launcher is replaced).  2,000 examples in the default suite (an example
that does real work costs ~50 ms, ~100x one that fails fast: ~15 s on a quiet 2-core machine;
tests/fuzz/test_models.py adds 2,000 at the model level), 20,000 under the `slow` marker, derandomized.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import types
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initlab.cli.main


def main(argv):
    return initlab.cli.main.main(argv)

REPO = Path(__file__).resolve().parents[2]
BAD_INT = ["0", "-1", "x", "", "1e3", "99999999999999999999999", "nan", "2.5"]
BAD_FLOAT = ["nan", "inf", "-inf", "x", "", "1e308", "-1", "0"]
UNWRITABLE = ["/proc/initlab-fuzz/x", "/nonexistent-initlab-fuzz/x"]
PATHS = ["out", "sub/dir/f", "notes.txt", ".", "", *UNWRITABLE]     # relative ones land in the example's folder
MODELS = ["mlp:64-4-10:relu", "mlp:64-4-10:tanh:dropout=0.5", "deep-mlp:2:8:tanh", "resmlp:1:8", "seed004",
          "nope", "mlp:", "mlp:64-x-10", "mlp:0-4-2", "mlp:64-4-10:relu:dropout=2", "mlp:64-4-10:dropout=nan",
          "deep-mlp:100000000:8", "deep-mlp:3:100000000", "missing.py:build", "os:getcwd", "", "-"]
POLICIES = ["auto", "torch_default", "torch-default", "zeros", "kaiming_normal", "lsuv", "fixup", "orthogonal",
            "zero_init_residual", "sparse", "nope", "", "auto,zeros"]

FLAGS = {
    "schemes": {"--json": None},
    "plan": {"--policy": POLICIES, "--bias": ["zeros", "keep", "0.1", "nan", "inf", "xavier_uniform", "nope", ""],
             "--seed": ["0", "7", *BAD_INT, "-5", "9223372036854775808"],
             "--batch": ["2", "16", *BAD_INT, "16777217", "16777216"],
             "--json": None, "--apply-check": None},
    "diagnose": {"--policy": POLICIES, "--data": ["digits", "nope", "", "diabetes", "points2d"],
                 "--batch": ["2", "16", "64", *BAD_INT, "16777217", "16777216"], "--seed": ["0", "3", *BAD_INT],
                 "--eval": None, "--json": None, "--brief": None, "--force": None,
                 # a PNG that is drawn costs ~100 examples that fail fast: the valid path is rare
                 "--plot": ["notes.txt", "x.jpg", "sub/missing/d.png", ".", "sub", *UNWRITABLE] * 2
                 + ["d.png", "/proc/self/d.png", "/nonexistent-initlab-fuzz/d.png", "sub/../x.txt"]},
    "compare": {"--model": MODELS[:2] + MODELS[5:13], "--data": ["digits", "nope", "", "points2d"],
                "--policies": ["zeros", "zeros,auto", "zeros,zeros", "zeros,,auto", "nope", "", ","],
                "--seeds": ["1", *BAD_INT, "10001"], "--epochs": ["1", *BAD_INT, "10000001"],
                "--optimizer": ["sgd", "adam", "adamw", "rmsprop", ""], "--lr": ["0.05", *BAD_FLOAT],
                "--momentum": ["0", "0.9", *BAD_FLOAT], "--weight-decay": ["0", "1e-4", *BAD_FLOAT],
                "--batch-size": ["16", *BAD_INT, "16777217"], "--loss": ["cross_entropy", "mse", "bce", "nope", ""],
                "--store": PATHS, "--no-store": None, "--device": ["cpu", "auto", "cuda", "nope", "cuda:99", ""],
                "--subsample": ["50", *BAD_INT], "--features": ["AveRooms", "", "nope"],
                "--val-fraction": ["0.2", "0", "1", *BAD_FLOAT], "--chunk": ["1", *BAD_INT],
                "--path": ["auto", "sequential", "vectorized", "nope"], "--target": ["0.5", *BAD_FLOAT],
                "--threads": ["1", "auto", *BAD_INT, "100000"], "--workers": ["1", *BAD_INT, "100000"],
                "--report": PATHS, "--no-report": None, "--json": None, "--quiet": None},
    "reproduce": {"--list": None, "--seeds": ["1", *BAD_INT, "10001", "1000000000"], "--quick": None,
                  "--json": None, "--store": PATHS, "--out": PATHS, "--no-plots": None,
                  "--threads": ["1", *BAD_INT, "100000"]},
    "double-descent": {"--axis": ["width", "epochs", "samples", "nope"], "--data": ["mnist1d", "nope", "digits", ""],
                       "--noise": ["0.15", *BAD_FLOAT, "1"], "--widths": ["2", "2,3", "0", "x", "-1", "100000000"],
                       "--epochs": ["1", *BAD_INT, "10000001"], "--seeds": ["1", *BAD_INT, "10001"],
                       "--policy": POLICIES, "--compare": POLICIES, "--samples": ["20", "0", "x", "100000000"],
                       "--n-train": ["40", *BAD_INT], "--n-test": ["40", *BAD_INT],
                       "--batch-size": ["16", *BAD_INT], "--lr": ["1e-3", *BAD_FLOAT],
                       "--tol": ["0.01", *BAD_FLOAT, "2"], "--min-rise": ["0.03", *BAD_FLOAT],
                       "--threads": ["1", *BAD_INT, "100000"], "--final-only": None, "--store": PATHS,
                       "--plots": PATHS, "--json": None, "--quiet": None, "--require-peak": None,
                       "--data-dir": PATHS},
    "runs": {"--store": PATHS + ["empty.sqlite", "notes.txt", "store.sqlite"], "--config": ["0", "abc", "", "%"],
             "--policy": ["zeros", "nope", ""], "--json": None,
             "--export": ["runs.csv", "runs.json", "runs.txt", "sub/missing/r.csv", "", *UNWRITABLE]},
    "demo": {"--host": ["127.0.0.1", "", "nope"], "--port": ["7860", "0", "65536", "x", "-1"],
             "--model": MODELS, "--threads": ["1", *BAD_INT, "100000"]},
}
POSITIONAL = {"plan": MODELS, "diagnose": MODELS, "reproduce": ["perceptron", "backprop", "nope", "", None]}
# the cheap configuration every training command starts from; the drawn flags come after it (last one wins)
BASE = {
    "compare": ["--model", "mlp:64-4-10:relu", "--data", "digits", "--subsample", "50", "--epochs", "1", "--seeds", "1",
                "--policies", "zeros", "--quiet", "--workers", "1", "--threads", "1", "--no-report",
                "--store", "runs.sqlite"],
    "double-descent": ["--widths", "2", "--epochs", "1", "--n-train", "40", "--n-test", "40", "--seeds", "1",
                       "--quiet", "--threads", "1", "--final-only"],
    "reproduce": ["--quick", "--no-plots", "--threads", "1", "--seeds", "1"],
    "diagnose": ["--batch", "16"],
    "plan": ["--batch", "16"],
}
TRAINS = {"compare", "double-descent", "reproduce"}   # never without BASE: their defaults are full-size runs
EXIT_1 = {"diagnose", "plan", "reproduce", "double-descent"}     # "a check found problems" (documented)
# commands whose real work is slow: they come up less often (most of their argvs fail fast anyway)
COMMANDS = ["schemes", "plan", "plan", "plan", "plan", "diagnose", "diagnose", "diagnose", "runs", "runs", "runs",
            "demo", "demo", "compare", "compare", "reproduce", "reproduce", "double-descent"]


TOP = [[], ["nope"], ["--version"], ["--help"], ["-h"], ["--nope"], ["schemes", "extra"], ["Plan", "mlp:4-2"],
       ["double_descent", "--widths", "0"], ["plan"], ["diagnose", "--json"]]


@st.composite
def argv(draw):
    if draw(st.integers(0, 49)) == 0:
        return draw(st.sampled_from(TOP))      # no command, an unknown one, a missing positional
    cmd = draw(st.sampled_from(COMMANDS))
    out = [cmd]
    if cmd in POSITIONAL:
        pos = draw(st.sampled_from(POSITIONAL[cmd]))
        if pos is not None:
            out.append(pos)
    if cmd in BASE and (cmd in TRAINS or draw(st.integers(0, 19)) > 0):
        out += BASE[cmd]
    flags = FLAGS[cmd]
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=4)):
        values = flags[flag]
        out.append(flag)
        if values is not None:
            out.append(draw(st.sampled_from(values)))
    extra = draw(st.sampled_from([None] * 12 + ["--nope", "-x", "--json=1", "--", "--help"]))
    if extra:
        out.append(extra)
    if draw(st.integers(0, 19)) == 0 and len(out) > 1:
        out.pop()                               # a flag without its value
    return out


def _fixtures(folder: Path) -> None:
    """Files some values name: a user's text file and an empty one (_run copies a real run store beside them)."""
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "empty.sqlite").write_bytes(b"")


def _snapshot() -> dict:
    """Names directly under the repository and $HOME, and under the repository's src/ and tests/ (not hidden
    ones nor __pycache__: libraries' caches such as ~/.cache/matplotlib are no output of a command)."""
    out = {}
    for d in (REPO, REPO / "src" / "initlab", REPO / "tests", Path.home()):
        with contextlib.suppress(OSError):
            out[str(d)] = sorted(n for n in os.listdir(d) if not n.startswith(".") and n != "__pycache__")
    return out


class _Demo:
    local_url = "http://127.0.0.1:0"

    def block_thread(self):
        return None


def _run(args, base: Path, store: Path):
    folder = Path(tempfile.mkdtemp(dir=base))
    _fixtures(folder)
    if store.exists():
        (folder / "store.sqlite").write_bytes(store.read_bytes())
    out, err = io.StringIO(), io.StringIO()
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(folder)
    try:
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("default")
            try:
                code = main(list(args))
            except SystemExit as e:             # main() returns; a SystemExit out of it is a finding too
                code = ("SystemExit", e.code)
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)        # --threads N sets them for the process (the CLI's own)
    text = err.getvalue()
    what = f"initlab {' '.join(args)!r} -> {code}\nstderr: {text[-2000:]}"
    assert code in (0, 1, 2), what
    if not args:
        assert code == 2, what
    assert "Traceback" not in text and "INITLAB_DEBUG" not in text, what
    if code == 1:
        assert args and args[0] in EXIT_1, what
        assert sum(line.startswith("initlab: error:") for line in text.splitlines()) <= 1, what
    if code == 2:
        lines = text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("initlab: error: "), what


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A temporary base for every example's folder, a real run store to copy, and a demo that never serves."""
    import initlab.cli.main
    import initlab.web
    monkeypatch.setattr(initlab.web, "launch", lambda *a, **k: _Demo())
    parser = initlab.cli.main.build_parser()          # built once: ~40 ms a time, most of a failing example
    monkeypatch.setattr(initlab.cli.main, "build_parser", lambda: parser)
    monkeypatch.setitem(sys.modules, "gradio", types.ModuleType("gradio"))
    monkeypatch.delenv("INITLAB_DEBUG", raising=False)
    store = tmp_path / "seed" / "store.sqlite"
    store.parent.mkdir()
    cwd = os.getcwd()
    os.chdir(store.parent)
    try:
        assert main(["compare", *BASE["compare"][:-1], str(store)]) == 0
    finally:
        os.chdir(cwd)
    base = tmp_path / "runs"
    base.mkdir()
    return base, store


def _fuzz(n, base, store):
    before = _snapshot()

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(args=argv())
    def check(args):
        _run(args, base, store)
    check()
    assert _snapshot() == before, "a command wrote outside its temporary folder"


def test_fuzz_cli_default_suite(cli_env):
    _fuzz(2000, *cli_env)


@pytest.mark.slow
def test_fuzz_cli_slow(cli_env):
    _fuzz(20000, *cli_env)
