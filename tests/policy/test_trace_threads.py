"""fx tracing patches nn.Module.__call__ for the whole process; a module used in another thread while a plan
traces (the web demo trains in a thread while a request plans) must run normally and leave the graph alone."""
import threading

import torch
from torch import nn

from initlab.policy.trace import from_fx


def _traced_while_another_thread_calls_a_module():
    started, done = threading.Event(), threading.Event()
    seen = {}

    class Gate(nn.Module):                       # traced through (not a leaf): its body runs during tracing
        def forward(self, x):
            started.set()
            assert done.wait(30), "the other thread never finished"
            return x

    def other():
        assert started.wait(30)
        try:
            lin = nn.Linear(3, 3)
            seen["out"] = lin(torch.ones(2, 3))
            seen["weight"] = lin.weight
        except Exception as e:                   # noqa: BLE001  (the failure this test guards against)
            seen["error"] = e
        finally:
            done.set()

    model = nn.Sequential(nn.Linear(4, 4), Gate(), nn.ReLU(), nn.Linear(4, 2))
    t = threading.Thread(target=other)
    t.start()
    nodes = from_fx(model)
    t.join(30)
    return model, nodes, seen


def test_a_module_called_in_another_thread_during_tracing_runs_as_usual():
    model, nodes, seen = _traced_while_another_thread_calls_a_module()
    assert "error" not in seen, seen.get("error")
    assert type(seen["out"]) is torch.Tensor and seen["out"].shape == (2, 3)
    assert isinstance(seen["weight"], nn.Parameter)
    layers = [n for n in nodes if n.kind == "layer"]
    assert [n.layer for n in layers] == ["0", "3"]   # the traced model's two Linear layers, not the other's
