"""The CLI shell itself: one-line errors, exit codes, help with examples."""
import subprocess
import sys

import pytest

from initlab.cli.main import main


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "initlab.cli.main", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args", [["bogus"], ["schemes", "--bad-flag"], ["plan"], []])
def test_bad_usage_is_one_line_and_exit_2(args):
    p = _run(*args)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initlab: error:"), p.stderr
    assert "Traceback" not in p.stderr


def test_init_error_is_one_line_exit_2_and_debug_shows_the_traceback():
    import os
    p = _run("plan", "mpl:3-4")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Did you mean" in p.stderr
    p = _run("plan", "mpl:3-4", env=dict(os.environ, INITLAB_DEBUG="1"))
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_help_lists_every_command_with_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("schemes", "plan", "diagnose", "compare", "runs", "reproduce", "double-descent"):
        assert cmd in out
    assert "Examples:" in out


# ---------------------------------------------------------------- hostile input (issue 13, item 6): one line, exit 2
def _one_line_exit_2(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.startswith("initlab: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.mark.parametrize("argv, needles", [
    (["compare", "--seeds", "1000000000"], ["--seeds=1000000000", "1 to 10000"]),
    (["compare", "--seeds", "0"], ["--seeds"]),
    (["compare", "--lr", "1e308"], ["--lr", "float32"]),
    (["compare", "--lr", "nan"], ["--lr"]),
    (["compare", "--lr", "-0.1"], ["--lr"]),
    (["compare", "--momentum", "inf"], ["--momentum"]),
    (["compare", "--val-fraction", "1"], ["--val-fraction"]),
    (["compare", "--threads", "100000"], ["--threads", "core"]),
    (["compare", "--workers", "100000"], ["--workers"]),
    (["compare", "--threads", "many"], ["--threads='many'"]),
    (["plan", "mlp:4-4", "--seed", "99999999999999999999999"], ["--seed", "9223372036854775807"]),
    (["plan", "mlp:4-4", "--seed", "-1"], ["--seed"]),
    (["diagnose", "mlp:4-4", "--seed", "99999999999999999999999"], ["--seed"]),
    (["double-descent", "--threads", "100000"], ["--threads"]),
    (["double-descent", "--lr", "1e308"], ["--lr"]),
    (["plan", "mlp:8-4:relu:dropout=2"], ["dropout='2'", "[0, 1)"]),
    (["plan", "mlp:8-4:relu:dropout=nan"], ["dropout='nan'"]),
    (["plan", "mlp:8-4:relu:dropout=-0.5"], ["dropout="]),
])
def test_extreme_values_are_one_line_usage_errors(capsys, argv, needles):
    _one_line_exit_2(capsys, argv, *needles)


@pytest.mark.parametrize("body, call", [
    ("import sys\ndef make():\n    sys.exit(3)\n", "calling make()"),
    ("import sys\nsys.exit(3)\ndef make():\n    pass\n", "importing"),
    ("def make():\n    raise RuntimeError('boom')\n", "RuntimeError: boom"),
])
def test_a_factory_that_exits_or_raises_is_one_line_exit_2(capsys, tmp_path, body, call):
    f = tmp_path / "factory.py"
    f.write_text(body)
    err = _one_line_exit_2(capsys, ["plan", f"{f}:make"], call, "factory.py:make")
    assert "sys.exit" in err or "boom" in err


def test_runs_export_to_an_unwritable_place_names_the_file_asked_for(capsys, tmp_path):
    from initlab.experiments.store import RunStore
    store = tmp_path / "runs.sqlite"
    RunStore(store).close()
    err = _one_line_exit_2(capsys, ["runs", "--store", str(store), "--export", "/proc/x.csv"], "--export='/proc/x.csv'")
    assert ".tmp" not in err


def test_diagnose_plot_refuses_other_files_unless_forced(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    _one_line_exit_2(capsys, ["diagnose", "mlp:4-8-2:tanh", "--plot", str(notes)], "--plot", ".png")
    fake = tmp_path / "fig.png"
    fake.write_text("not a png\n")
    _one_line_exit_2(capsys, ["diagnose", "mlp:4-8-2:tanh", "--plot", str(fake)], "not a PNG", "--force")
    _one_line_exit_2(capsys, ["diagnose", "mlp:4-8-2:tanh", "--plot", str(tmp_path)], "folder")
    assert notes.read_text() == "my notes\n" and fake.read_text() == "not a png\n"
    assert main(["diagnose", "mlp:4-8-2:tanh", "--plot", str(fake), "--force", "--brief"]) in (0, 1)
    assert fake.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["diagnose", "mlp:4-8-2:tanh", "--plot", str(fake), "--brief"]) in (0, 1)   # a PNG: replaced
    capsys.readouterr()
