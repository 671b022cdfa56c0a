"""Whole-process cost (issue 16): what each entry point imports, checked in fresh interpreters.

`import initlab` loads no torch at all; planning and initializing a small model, the `schemes`
and `plan` commands and loading digits import nothing heavy beyond what `import torch` itself
loads: not torch._dynamo (1-2 s), scikit-learn (1-2.5 s), scipy or matplotlib.
"""
import json
import subprocess
import sys
import textwrap

HEAVY = ("torch._dynamo", "torch._inductor", "sklearn", "scipy", "matplotlib", "sympy")


def _fresh(code: str) -> dict:
    """Run `code` in a new interpreter; it prints one JSON object last."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_import_initlab_and_help_load_no_torch():
    out = _fresh("""
        import io, json, sys, contextlib
        import initlab
        after_import = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        from initlab.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()) as buf:
            rc = main(["--help"])
        print(json.dumps({"import": after_import, "rc": rc, "help": "torch" in sys.modules,
                          "help_has_commands": "compare" in buf.getvalue(), "version": initlab.__version__}))
    """)
    assert out["import"] == [], "import initlab imported torch"
    assert out["rc"] == 0 and out["help_has_commands"]
    assert out["help"] is False, "initlab --help imported torch"


def test_planning_initializing_and_the_light_commands_import_nothing_heavy():
    out = _fresh("""
        import io, json, sys, contextlib
        import torch
        base = set(sys.modules)
        import initlab
        from torch import nn
        m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 10))
        initlab.plan(m, "auto", seed=0)
        initlab.init_(m, "auto", seed=0)
        initlab.init_(m, "kaiming_normal", seed=0)          # normal_ on a meta tensor imported torch._dynamo
        initlab.init_(m, "orthogonal", seed=0)
        initlab.init_(m, "torch-default", seed=0)
        stages = {"plan/init_": sorted(set(sys.modules) - base)}
        initlab.diagnose(m, torch.randn(4, 64))        # grad_outputs as a tensor made torch import sympy
        initlab.diagnose(m, torch.randn(4, 64), targets=torch.randint(0, 10, (4,)))
        stages["diagnose"] = sorted(set(sys.modules) - base)
        from initlab.cli.main import main
        for argv in (["schemes"], ["schemes", "--json"], ["plan", "mlp:64-128-10:relu"],
                     ["plan", "mlp:64-128-10:relu", "--json"]):
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(argv) == 0, argv
            stages[" ".join(argv)] = sorted(set(sys.modules) - base)
        from initlab.data import load
        ds = load("digits", seed=0)
        load("breast-cancer", seed=0)
        load("diabetes", seed=0)
        stages["load digits, breast-cancer, diabetes"] = sorted(set(sys.modules) - base)
        print(json.dumps({"base_heavy": sorted(m for m in base if m.split(".")[0] in ("sklearn", "scipy",
                          "matplotlib", "sympy") or m.startswith("torch._dynamo")),
                          "stages": stages, "digits": [ds.n_train, ds.n_val, ds.n_test]}))
    """)
    assert out["digits"][0] > 1000
    for stage, mods in out["stages"].items():
        heavy = sorted({h for h in HEAVY for m in mods if m == h or m.startswith(h + ".")} - set(out["base_heavy"]))
        assert not heavy, f"{stage} imported {heavy}"
