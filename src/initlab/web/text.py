"""The page's words: verdicts (from Diagnosis.verdicts), plan rows (from Plan.rows), run results."""
from __future__ import annotations

import math

PLAN_HEADERS = ["parameter", "shape", "scheme", "std / bound", "why"]


def _esc(s: str) -> str:
    return str(s).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def verdicts(label: str, side) -> str:
    """Markdown: the diagnosis of one init, one bullet per verdict with its fix."""
    d = side.diagnosis
    head = "healthy" if d.healthy else f"{len(d.verdicts)} problem{'s' if len(d.verdicts) != 1 else ''}"
    out = [f"**{label}: {_esc(side.policy)}**: {head}"]
    for v in d.verdicts:
        if v.kind == "healthy":
            out.append(f"- {_esc(v.message)}")
            continue
        kind = v.kind + (f" {v.direction}" if v.direction else "")
        out.append(f"- **{kind}**: {_esc(v.message)}" + (f"  \n  *Fix:* {_esc(v.fix)}" if v.fix else ""))
    for n in d.notes:
        out.append(f"- note: {_esc(n)}")
    return "\n".join(out)


def plan_rows(plan) -> list[list[str]]:
    """One row per plan row: which scheme each parameter got and why."""
    return [[r.name, "x".join(map(str, r.shape)), r.scheme_text, r.spread, r.reason] for r in plan.rows]


def plan_note(plan) -> str:
    notes = list(plan.notes)
    return f"policy {plan.policy!r}" + (f", activations found by {plan.method}" if plan.method else "") + \
        ("".join(f"; {n}" for n in notes))


def _num(x: float, pct: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{100 * x:.1f} %" if pct else f"{x:.4g}"


def results(labels, snap: dict, epochs: int, chance: float) -> str:
    """Markdown table: the last finished epoch of each init (the table the browser tests read), and chance."""
    out = ["| init | epoch | train loss | validation loss | validation accuracy |", "|---|---|---|---|---|"]
    for k, lab in enumerate(labels):
        h = snap["history"][k]
        last = h[-1] if h else None
        if snap["diverged"][k] is not None:
            out.append(f"| {_esc(lab)} | diverged at {snap['diverged'][k]} | - | - | - |")
        elif last is None:
            out.append(f"| {_esc(lab)} | 0 / {epochs} | - | - | - |")
        else:
            out.append(f"| {_esc(lab)} | {last['epoch']} / {epochs} | {_num(last['train_loss'])} | "
                       f"{_num(last['val_loss'])} | {_num(last['val_acc'], True)} |")
    out.append(f"\nchance (always the validation set's most frequent class): {_num(chance, True)}")
    return "\n".join(out)


def status(snap: dict, epochs: int) -> str:
    sec = snap["seconds"]
    done = snap["fraction"] * epochs
    state = {"starting": "training", "finished": "finished", "stopped": "stopped", "failed": "failed"}[snap["status"]]
    if snap["status"] == "starting":
        return f"training: epoch {min(epochs, int(done) + 1)} of {epochs} ({100 * snap['fraction']:.0f} %), {sec:.1f} s"
    return f"{state} after {sec:.1f} s" + (f": {snap['error']}" if snap["error"] else "")


__all__ = ["verdicts", "plan_rows", "plan_note", "results", "status", "PLAN_HEADERS"]
