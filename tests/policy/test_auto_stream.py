"""auto's rules for the two ends of a model (policy/auto_stream.py): untied embeddings in a transformer's
residual stream start at N(0, 1/d); a single-output readout starts at zero; classifier heads are unchanged."""
import math

import pytest
import torch
import torch.nn as nn

import initlab


class TokenTransformer(nn.Module):
    """tokens -> token table + position table -> 1 encoder layer -> mean -> head (both tables untied)."""

    def __init__(self, vocab=50, d=16, n=6, classes=3):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(n, d)
        layer = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        return self.head(self.enc(self.tok(ids) + self.pos.weight[None, : ids.shape[1]]).mean(1))


def test_untied_embeddings_in_a_transformer_start_at_unit_row_norm():
    m = TokenTransformer()
    p = initlab.plan(m, "auto")
    for name in ("tok.weight", "pos.weight"):
        r = p[name]
        assert r.scheme == "normal" and r.law["std"] == pytest.approx(1 / math.sqrt(16)), r.reason
        assert "residual stream" in r.reason and "N(0, 1/d)" in r.reason
    torch.manual_seed(0)
    initlab.init_(m, "auto", seed=0)
    norms = m.pos.weight.detach().norm(dim=1)       # rows of norm ~1, not ~sqrt(d) = 4 as N(0, 1) gives
    assert 0.5 < float(norms.mean()) < 1.5


class PostNormTokens(nn.Module):
    """BERT-style: an embeddings block (token + position tables, LayerNorm, dropout) whose normalized sum is the
    stream of a post-norm encoder layer."""

    def __init__(self, vocab=30, d=16, n=6):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.tok, self.embeddings.pos = nn.Embedding(vocab, d), nn.Embedding(n, d)
        self.embeddings.norm, self.embeddings.drop = nn.LayerNorm(d), nn.Dropout(0.0)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True), 1,
                                         enable_nested_tensor=False)
        self.head = nn.Linear(d, 3)

    def forward(self, ids):
        e = self.embeddings
        x = e.drop(e.norm(e.tok(ids) + e.pos.weight[None, : ids.shape[1]]))
        return self.head(self.enc(x).mean(1))


def test_tables_of_a_post_norm_embeddings_block_keep_bert_scale():
    """Their sum goes through the block's norm before it is the stream: the scale only sets how fast they learn,
    so auto keeps BERT's N(0, 0.02^2); the same tables summed straight into a pre-norm stream get N(0, 1/d)."""
    m = PostNormTokens()
    p = initlab.plan(m, "auto")
    for name in ("embeddings.tok.weight", "embeddings.pos.weight"):
        r = p[name]
        assert r.scheme == "normal" and r.law["std"] == 0.02, r.reason
        assert "embeddings.norm" in r.reason and "post-norm" in r.reason
    initlab.init_(m, "auto", seed=0)
    assert 0.015 < float(m.embeddings.tok.weight.detach().std()) < 0.025
    assert initlab.plan(TokenTransformer(), "auto")["tok.weight"].law["std"] == pytest.approx(0.25)


def test_hugging_face_bert_embeddings_get_bert_scale_and_gpt2_tables_do_not():
    from tests._hf_tiny import bert, gpt2, hf
    T = hf()
    b = T.BertForSequenceClassification(T.BertConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
                                                     intermediate_size=32, vocab_size=40, max_position_embeddings=8))
    def drawn(plan, param):                           # the table's drawn rows (the padding row is a row of its own)
        return [r for r in plan.rows if r.param == param and r.law and r.law.get("dist") == "normal"]
    p = initlab.plan(b, "auto")
    for t in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        rows = drawn(p, f"bert.embeddings.{t}.weight")
        assert rows and all(r.law["std"] == 0.02 for r in rows), t
    b.config.initializer_range = 0.01                 # the model's own declaration wins over BERT's constant
    p = initlab.plan(b, "auto")
    for t in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        rows = drawn(p, f"bert.embeddings.{t}.weight")
        assert rows and all(r.law["std"] == 0.01 and "initializer_range" in r.reason for r in rows), t
    assert initlab.plan(gpt2(1, 16, 40, 8, tie=False), "auto")["transformer.wpe.weight"].law["std"] == 0.25
    tied = drawn(initlab.plan(bert(1, 16, 40, 8), "auto"), "bert.embeddings.word_embeddings.weight")   # the MLM head
    assert tied and all(r.law["std"] != 0.02 and "tied" in r.reason for r in tied)


def test_an_embedding_outside_a_transformer_keeps_unit_scale():
    m = nn.Sequential(nn.Embedding(20, 8), nn.Flatten(), nn.Linear(24, 2))
    r = initlab.plan(m, "auto", example_inputs=torch.randint(0, 20, (4, 3)))["0.weight"]
    assert r.law["std"] == 1.0


@pytest.mark.parametrize("with_inputs", [False, True])
def test_a_single_output_readout_starts_at_zero_and_a_classifier_head_does_not(with_inputs):
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0)) if with_inputs else None
    reg = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    p = initlab.init_(reg, "auto", seed=0, example_inputs=x)
    r = p["4.weight"]
    assert r.scheme == "zeros" and "single output" in r.reason and "Fixup" in r.reason
    assert bool((reg[4].weight == 0).all()) and p.verify(reg) == []
    cls = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    q = initlab.plan(cls, "auto", example_inputs=x)
    assert q["4.weight"].scheme == "lecun_normal" and "single output" not in q["4.weight"].reason


def test_the_readout_rule_trains_a_regression_stack_to_a_lower_error_than_a_unit_gain_readout():
    """Two seeds of a small regression (a smooth target of 8 standardized features, Adam): the zero readout
    ends lower than the same plan with the readout redrawn at lecun_normal (gain 1)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 8, generator=g)
    y = (torch.sin(x[:, :1] * 2) + x[:, 1:2] * x[:, 2:3]) / 1.2
    xv = torch.randn(256, 8, generator=g)
    yv = (torch.sin(xv[:, :1] * 2) + xv[:, 1:2] * xv[:, 2:3]) / 1.2
    out = {}
    for head in ("auto", "lecun"):
        errs = []
        for seed in range(2):
            torch.manual_seed(seed)
            m = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64),
                              nn.ReLU(), nn.Linear(64, 1))
            initlab.init_(m, "auto", seed=seed, example_inputs=x[:256])
            if head == "lecun":
                initlab.init_(m, initlab.Rule("lecun_normal", name="6.weight"), seed=seed)
            opt = torch.optim.Adam(m.parameters(), lr=3e-3)
            for _ in range(60):
                loss = nn.functional.mse_loss(m(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                errs.append(float(nn.functional.mse_loss(m(xv), yv)))
        out[head] = sum(errs) / 2
    assert out["auto"] < out["lecun"], out
