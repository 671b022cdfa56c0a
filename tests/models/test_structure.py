"""Known blocks without tracing; every residual branch end found by gpt2, zero-init-residual, fixup and auto,
with and without example_inputs; loud warnings where the structure is unknown; reference presets."""
import math

import pytest
import torch
import torch.nn as nn

import initlab

# name -> the branch-end modules (attention out-projection, MLP down-projection) per block
ENDS = {
    "gpt2": lambda m: [f"transformer.h.{i}.{p}" for i in range(len(m.transformer.h)) for p in ("attn.c_proj", "mlp.c_proj")],
    "bert": lambda m: [f"bert.encoder.layer.{i}.{p}" for i in range(len(m.bert.encoder.layer))
                       for p in ("attention.output.dense", "output.dense")],
    "vit": lambda m: [f"vit.layers.{i}.{p}" for i in range(len(m.vit.layers)) for p in ("attention.o_proj", "mlp.fc2")],
    "encoder": lambda m: [f"enc.layers.{i}.{p}" for i in range(len(m.enc.layers)) for p in ("self_attn.out_proj", "linear2")],
    "timm-vit": lambda m: [f"blocks.{i}.{p}" for i in range(len(m.blocks)) for p in ("attn.proj", "mlp.fc2")],
    "llama": lambda m: [f"model.layers.{i}.{p}" for i in range(len(m.model.layers))
                        for p in ("self_attn.o_proj", "mlp.down_proj")],
    "gemma": lambda m: [f"model.layers.{i}.{p}" for i in range(len(m.model.layers))
                        for p in ("self_attn.o_proj", "mlp.down_proj")],
    "t5": lambda m: [f"encoder.block.{i}.{p}" for i in range(len(m.encoder.block))
                     for p in ("layer.0.SelfAttention.o", "layer.1.DenseReluDense.wo")]
                    + [f"decoder.block.{i}.{p}" for i in range(len(m.decoder.block))
                       for p in ("layer.0.SelfAttention.o", "layer.1.EncDecAttention.o", "layer.2.DenseReluDense.wo")],
}


@pytest.mark.parametrize("name", sorted(ENDS))
@pytest.mark.parametrize("with_inputs", [False, True])
def test_every_branch_end_is_found(models, name, with_inputs, ids, images):
    make, inputs, _ = models[name]
    m = make()
    ends = ENDS[name](m)
    L = len(ends)
    x = inputs(ids, images) if with_inputs else None
    p = initlab.plan(m, "gpt2", example_inputs=x)
    for e in ends:
        assert p[f"{e}.weight"].law["std"] == pytest.approx(0.02 / math.sqrt(L)), (e, p[f"{e}.weight"].reason)
    p = initlab.plan(m, "zero-init-residual", example_inputs=x)
    assert all(p[f"{e}.weight"].scheme == "zeros" for e in ends)
    p = initlab.plan(m, "auto", example_inputs=x)
    assert all(f"residual branch" in p[f"{e}.weight"].reason and f"/{L}" in p[f"{e}.weight"].reason for e in ends)
    p = initlab.plan(m, "fixup", example_inputs=x)
    assert all(p[f"{e}.weight"].scheme == "zeros" for e in ends)


def test_transformer_encoder_layer_activation_without_tracing():
    """fx fails on a lone TransformerEncoderLayer inside a data-dependent forward: the block table still knows
    linear1 is followed by its GELU and linear2 ends a branch."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(32, 2, 64, activation="gelu", batch_first=True)
            self.head = nn.Linear(32, 5)

        def forward(self, x):
            if x.sum() > 0:                    # data-dependent control flow: torch.fx cannot trace this
                x = x * 1.0
            return self.head(self.layer(x))

    p = initlab.plan(Net(), "auto")
    assert p.method == "registration order"
    assert "gelu" in p["layer.linear1.weight"].reason
    assert "residual branch" in p["layer.linear2.weight"].reason
    assert "residual branch" in p["layer.self_attn.out_proj.weight"].reason
    assert any("known blocks: 1 x nn.TransformerEncoderLayer" in n for n in p.notes)
    assert not any(n.startswith("WARNING") for n in p.notes)


def test_unknown_structure_is_a_loud_warning():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.head = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 3)

        def forward(self, x):
            if x.sum() > 0:
                x = x + 0
            h = torch.relu(self.a(x))
            return self.head(h + torch.tanh(self.b(h)))

    p = initlab.plan(Odd(), "auto")
    warn = [n for n in p.notes if n.startswith("WARNING")]
    assert warn and "a, b" in warn[0] and "example_inputs" in warn[0]
    p = initlab.plan(Odd(), "auto", example_inputs=torch.randn(4, 8))
    assert not any(n.startswith("WARNING") for n in p.notes)
    assert "relu" in p["a.weight"].reason and "residual branch" in p["b.weight"].reason


def test_gpt2_preset_matches_hugging_face(mk):
    torch.manual_seed(0)
    ref = mk.gpt2(layers=3, d=128)                    # HF's own _init_weights
    m = mk.gpt2(layers=3, d=128)
    p = initlab.init_(m, "gpt2", seed=1)
    small = 0.02 / math.sqrt(2 * 3)
    for n, w in m.named_parameters():
        if n.endswith("c_proj.weight"):
            assert p[n].law["std"] == pytest.approx(small)
        r = dict(ref.named_parameters())[n]
        if w.numel() >= 4096:
            assert float(w.detach().std()) == pytest.approx(float(r.detach().std()), rel=0.02), n
        elif float(r.detach().std()) == 0:
            assert torch.equal(w, r), n                                     # 1/0 norms and zero biases


def test_bert_preset_matches_hugging_face(mk):
    torch.manual_seed(0)
    ref = mk.bert(d=128)
    m = mk.bert(d=128)
    p = initlab.init_(m, "bert", seed=1)
    refs = dict(ref.named_parameters())
    for n, w in m.named_parameters():
        r = refs[n]
        if w.numel() >= 4096:
            assert float(w.detach().std()) == pytest.approx(float(r.detach().std()), rel=0.02), n
        elif float(r.detach().std()) == 0:
            assert torch.equal(w, r), n
    assert torch.all(m.bert.embeddings.word_embeddings.weight[0] == 0)       # padding row, as HF
    assert p.verify(m) == []
