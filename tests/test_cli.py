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
