"""auto on recurrent layers with example_inputs: the first layer's input weights are scaled to the input that the
RNN actually reads (auto_data.rnn_input, calibrate.py), everything else keeps the analytic draw."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

import initlab


class RowsRNN(nn.Module):
    """An (n, 64) image read as 8 rows of 8 values by a recurrent layer, then a linear head."""

    def __init__(self, kind="lstm", layers=2, bidirectional=False):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.rnn = cls(8, 16, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(16 * (2 if bidirectional else 1), 10)

    def forward(self, x):
        h, _ = self.rnn(x.view(x.shape[0], 8, 8))
        return self.head(h[:, -1])


def _pixels(n=128, seed=0):
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(seed))          # [0, 1]: mean of squares 1/3


def _scaled(p):
    return [r for r in p.rows if r.action == "calibrate"]


@pytest.mark.parametrize("kind,bidirectional", [("lstm", False), ("gru", True), ("rnn", False)])
def test_first_layer_input_weights_are_the_analytic_draw_over_the_input_rms(kind, bidirectional):
    x = _pixels()
    q = float((x.double() ** 2).mean())
    torch.manual_seed(0)
    plain, data = RowsRNN(kind, bidirectional=bidirectional), RowsRNN(kind, bidirectional=bidirectional)
    p0 = initlab.init_(plain, "auto", seed=3)                                          # analytic, no data
    p1 = initlab.init_(data, "auto", seed=3, example_inputs=x)
    assert _scaled(p0) == []
    scaled = {r.param for r in _scaled(p1)}
    assert scaled == {"rnn.weight_ih_l0"} | ({"rnn.weight_ih_l0_reverse"} if bidirectional else set())
    for name, w in data.named_parameters():
        w0 = dict(plain.named_parameters())[name]
        if name.startswith("rnn.weight_ih_l0"):        # the same draw, times 1/sqrt(q) exactly
            torch.testing.assert_close(w, w0 / math.sqrt(q), rtol=1e-5, atol=0)
        else:                                          # every other tensor exactly as without data
            assert torch.equal(w, w0), name
    for r in _scaled(p1):
        assert r.applied["second_moment"] == pytest.approx(q, rel=1e-9)
        assert r.applied["scale"] == pytest.approx(1 / math.sqrt(q), rel=1e-9) and r.applied["converged"]
        assert "1/sqrt(mean of squares of this RNN's input on example_inputs)" in r.reason
    assert p1.verify(data) == []                        # the law the rows report is the scaled one
    assert any("recurrent layer(s) (rnn) are scaled" in n for n in p1.notes)


def test_standardized_inputs_leave_the_draw_as_it_is_and_reapplying_draws_the_planned_law_again():
    x = torch.randn(256, 64, generator=torch.Generator().manual_seed(1))
    x = x / x.pow(2).mean().sqrt()                     # mean of squares exactly 1
    m = RowsRNN("lstm")
    p = initlab.plan(m, "auto", seed=5, example_inputs=x)
    p.apply(m)
    first = m.rnn.weight_ih_l0.detach().clone()
    assert len(_scaled(p)) == 4 and all(r.applied["scale"] == pytest.approx(1.0, abs=1e-6) for r in _scaled(p))
    p.apply(m)                                         # again: from the planned law, measured again
    torch.testing.assert_close(m.rnn.weight_ih_l0, first)


def test_the_rnn_measures_what_the_layers_before_it_produce_after_their_calibration():
    """An embedding in front: the LSTM reads N(0, 1) vectors (auto's embedding rule), so its scale is ~1, not
    what the token ids' raw values would give."""
    class EmbLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.rnn = nn.LSTM(8, 16, batch_first=True)
            self.head = nn.Linear(16, 50)

        def forward(self, ids):
            h, _ = self.rnn(self.emb(ids))
            return self.head(h)

    torch.manual_seed(0)
    m = EmbLSTM()
    ids = torch.randint(0, 50, (64, 12), generator=torch.Generator().manual_seed(2))
    p = initlab.init_(m, "auto", seed=0, example_inputs=ids)
    emb_q = float((m.emb(ids).detach().double() ** 2).mean())
    (r,) = [r for r in _scaled(p) if r.part and r.part[0] == "i"]
    assert r.applied["second_moment"] == pytest.approx(emb_q, rel=1e-6) and 0.7 < emb_q < 1.3


def test_calibrate_false_and_kept_rnn_weights_are_not_scaled():
    x = _pixels()
    m = RowsRNN("lstm")
    p = initlab.plan(m, initlab.policy.auto(calibrate=False), example_inputs=x)
    assert _scaled(p) == []
    m.rnn.weight_ih_l0.requires_grad_(False)           # frozen: kept, never rescaled
    p = initlab.plan(m, "auto", example_inputs=x)
    assert all(r.action == "keep" for r in p.rows if r.param == "rnn.weight_ih_l0")
    assert _scaled(p) == []
