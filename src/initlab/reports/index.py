"""One report folder per comparison under a report root, and an index.html listing them (issue 13, hostile use 7).

`initlab compare` without --report writes ``<store folder>/report/<data>-<model>-<hash8>-<sel4>/report.html``
(see `config_folder`): two comparisons of different configs (or of other policies or seeds) on one store
no longer overwrite each other's report, and the path a run prints keeps holding that run's report.
``<root>/index.html`` (rewritten after each report, under a file lock, atomically) links every report in
the root, newest first: the one stable path to open.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
from pathlib import Path

INDEX = "index.html"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def config_folder(config: dict) -> str:
    """Folder name of a comparison's report: readable data and model names, the first 8 hex digits of the
    config hash (as `initlab runs` shows it) and 4 of a hash of the policies and seeds compared (they are not
    part of the config hash: the same config with other policies is another report), e.g.
    ``fashion-mnist-seed004-3f2a1b9c-07d1``; only [A-Za-z0-9._-], at most 64 characters."""
    h = str(config.get("config_hash") or "")[:8] or "nohash"
    sel = json.dumps([config.get("policies"), config.get("seeds")], default=str)
    h += "-" + hashlib.sha256(sel.encode()).hexdigest()[:4]
    words = _UNSAFE.sub("-", f"{config.get('data', '')}-{config.get('model', '')}").strip("-.")[:50].strip("-.")
    return f"{words}-{h}" if words else h


def _entries(root: Path) -> list[dict]:
    out = []
    for summary in root.glob("*/summary.json"):
        try:
            doc = json.loads(summary.read_text())
        except (OSError, ValueError):
            continue                      # a report being written right now, or not ours: skip it
        cfg = doc.get("config") or {}
        rows = doc.get("summary") or []
        best = next((r.get("policy") for r in rows if r.get("rank") == 1), rows[0].get("policy") if rows else "")
        out.append({"folder": summary.parent.name, "mtime": summary.stat().st_mtime, "best": best or "",
                    "runs": doc.get("runs", ""), **{k: cfg.get(k, "") for k in
                                                    ("data", "model", "epochs", "optimizer", "lr", "config_hash")}})
    return sorted(out, key=lambda e: (-e["mtime"], e["folder"]))


def write_index(root: str | os.PathLike) -> str:
    """(Re)write ``root/index.html`` listing the reports in root's sub-folders; returns its path."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / ".index.lock", "a")
    try:
        try:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)     # two compares finishing together: the later one sees both
        except ImportError:  # pragma: no cover - Windows: the atomic replace alone
            pass
        rows = "\n".join(
            "<tr><td><a href=\"{f}/report.html\">{f}</a></td><td>{d}</td><td>{m}</td><td>{ep}</td><td>{o} {lr}</td>"
            "<td>{n}</td><td>{b}</td><td>{t}</td></tr>".format(
                f=html.escape(e["folder"]), d=html.escape(str(e["data"])), m=html.escape(str(e["model"])),
                ep=html.escape(str(e["epochs"])), o=html.escape(str(e["optimizer"])), lr=html.escape(str(e["lr"])),
                n=html.escape(str(e["runs"])), b=html.escape(str(e["best"])),
                t=time.strftime("%Y-%m-%d %H:%M", time.localtime(e["mtime"])))
            for e in _entries(root))
        page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>initlab reports</title>"
                "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}"
                "tr:nth-child(even){background:#f4f4f4}</style></head><body>\n<h1>initlab comparison reports</h1>\n"
                "<p>One folder per configuration (data, model, training settings), newest first.</p>\n"
                "<table><tr><th>report</th><th>data</th><th>model</th><th>epochs</th><th>optimizer, lr</th>"
                f"<th>runs</th><th>best</th><th>written</th></tr>\n{rows}\n</table>\n</body></html>\n")
        out = root / INDEX
        tmp = root / f".{INDEX}.{os.getpid()}.tmp"
        tmp.write_text(page)
        os.replace(tmp, out)
        return str(out)
    finally:
        lock.close()
