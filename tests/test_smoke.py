import subprocess
import sys

import initlab


def test_cli_schemes_json_lists_every_scheme():
    import json
    out = subprocess.run([sys.executable, "-m", "initlab.cli.main", "schemes", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    assert {r["name"] for r in rows} == set(initlab.list_schemes())
    assert all({"name", "aliases", "formula"} <= set(r) for r in rows)
