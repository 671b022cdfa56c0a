"""`initlab schemes`: every scheme with its formula (``--json`` for scripts)."""
from __future__ import annotations

import json

from ._command import command


def register(sub) -> None:
    p = command(sub, "schemes", help="list every initialization scheme with its formula",
                description="List every registered scheme: name, aliases, formula, source.",
                examples=["initlab schemes", "initlab schemes --json | jq '.[].name'"])
    p.add_argument("--json", action="store_true", help="print a JSON list of {name, aliases, formula, ...}")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..schemes import registered_schemes
    rows = [s.to_dict() for s in registered_schemes()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        alias = f"  (aliases: {', '.join(r['aliases'])})" if r["aliases"] else ""
        print(f"{r['name']:<{w}}  {r['formula']}{alias}")
    return 0
