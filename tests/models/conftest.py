"""Small real models for the policy and diagnose tests: Hugging Face GPT-2, BERT MLM and ViT built from
configs (tests/_hf_tiny.py: offline, no weights downloaded), torch's TransformerEncoder, an LSTM language
model, a MultiheadAttention model and a timm-style ViT (written here: timm is not a dependency)."""
import pytest
import torch
import torch.nn as nn

from tests import _hf_tiny as hf_tiny   # the tiny Hugging Face configs, shared with tests/fuzz/_zoo.py

V = 1000          # vocabulary: ln V = 6.91
D = 64
SEQ = 16


class LSTMLM(nn.Module):
    def __init__(self, tie=False):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.rnn = nn.LSTM(D, D, num_layers=2, batch_first=True)
        self.head = nn.Linear(D, V)
        if tie:
            self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.rnn(self.emb(ids))[0])


class EncoderLM(nn.Module):
    """Embedding -> nn.TransformerEncoder (post-LN, GELU) -> LayerNorm -> head tied to the embedding."""

    def __init__(self, layers=2):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 2, 2 * D, dropout=0.0, activation="gelu",
                                                                    batch_first=True, norm_first=True), layers,
                                         enable_nested_tensor=False)
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.norm(self.enc(self.emb(ids))))


class MHANet(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(D, 4, batch_first=True)
        self.head = nn.Linear(D, 10)

    def forward(self, x):
        return self.head(self.attn(x, x, x)[0].mean(1))


class LayerScale(nn.Module):
    def __init__(self, d, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(d))

    def forward(self, x):
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, 2 * d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * d, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """timm's VisionTransformer block layout: norm1, attn.qkv/proj, ls1, norm2, mlp.fc1/act/fc2, ls2."""

    def __init__(self, d, heads=2):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(d), Attention(d, heads), LayerScale(d)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(d), Mlp(d), LayerScale(d)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, d, patch=4):
        super().__init__()
        self.proj = nn.Conv2d(3, d, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimmViT(nn.Module):
    def __init__(self, depth=3, d=D, classes=10, image=16):
        super().__init__()
        self.patch_embed = PatchEmbed(d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image // 4) ** 2 + 1, d))
        self.blocks = nn.Sequential(*[Block(d) for _ in range(depth)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def gpt2(layers=2, d=D, tie=True):
    return hf_tiny.gpt2(layers, d, V, 64, tie=tie)


def bert(layers=2, d=D):
    return hf_tiny.bert(layers, d, V, 64)


def vit(layers=2, d=D):
    return hf_tiny.vit(layers, d, image=16, labels=10)


@pytest.fixture
def ids():
    return torch.randint(0, V, (8, SEQ), generator=torch.Generator().manual_seed(0))


@pytest.fixture
def images():
    return torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def zoo():
    """name -> (factory, inputs(ids, images), classes)."""
    return {
        "gpt2": (gpt2, lambda i, x: {"input_ids": i}, V),
        "bert": (bert, lambda i, x: {"input_ids": i}, V),
        "vit": (vit, lambda i, x: {"pixel_values": x}, 10),
        "encoder": (EncoderLM, lambda i, x: i, V),
        "lstm": (LSTMLM, lambda i, x: i, V),
        "mha": (MHANet, lambda i, x: torch.randn(8, SEQ, D, generator=torch.Generator().manual_seed(1)), 10),
        "timm-vit": (TimmViT, lambda i, x: x, 10),
        "resnet": (hf_tiny.resnet, lambda i, x: {"pixel_values": x}, 10),
        "convnext": (hf_tiny.convnext, lambda i, x: {"pixel_values": x}, 10),
        "convnextv2": (hf_tiny.convnextv2, lambda i, x: {"pixel_values": x}, 10),
        "swin": (hf_tiny.swin, lambda i, x: {"pixel_values": x}, 10),
        "llama": (lambda: hf_tiny.llama(2, D, V, 64), lambda i, x: {"input_ids": i}, V),
        "gemma": (lambda: hf_tiny.gemma(2, D, V, 64), lambda i, x: {"input_ids": i}, V),
        "t5": (lambda: hf_tiny.t5(2, D, V), lambda i, x: {"input_ids": i, "decoder_input_ids": i}, V),
    }


@pytest.fixture
def models():
    return zoo()


def logits(out):
    return out.logits if hasattr(out, "logits") else out


@pytest.fixture
def mk():
    """The builders above, for tests (conftest helpers are not importable under --import-mode=importlib)."""
    import types
    return types.SimpleNamespace(gpt2=gpt2, bert=bert, vit=vit, EncoderLM=EncoderLM, LSTMLM=LSTMLM, MHANet=MHANet,
                                 TimmViT=TimmViT, logits=logits, V=V, D=D, T=hf_tiny.T)
