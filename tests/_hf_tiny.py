"""Tiny Hugging Face models built from configs, written once for every test that needs one: the model tests
(tests/models/conftest.py: GPT-2, BERT, ViT at width 64, the CNNs ResNet, ConvNeXt (V1, V2) and Swin) and the model fuzz (tests/fuzz/_zoo.py: all five at
width 8).  Offline: HF_HUB_OFFLINE=1, no weights are downloaded.  Two heads everywhere, feed-forward width
2 * d; without `transformers` (a dev dependency) a test that builds one skips.

    from tests._hf_tiny import gpt2
    model = gpt2(layers=1, d=8, vocab=32, positions=16)
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

try:                       # a dev dependency; without it only the Hugging Face cases skip
    import transformers as T
    T.logging.set_verbosity_error()
except ImportError:        # pragma: no cover - the dev extra installs it
    T = None


def hf():
    """The transformers module, or a skip of the calling test when it is not installed."""
    if T is None:
        pytest.skip("transformers is not installed (pip install -e '.[dev]')")
    return T


def gpt2(layers: int, d: int, vocab: int, positions: int, tie: bool = True):
    T = hf()
    return T.GPT2LMHeadModel(T.GPT2Config(n_layer=layers, n_embd=d, n_head=2, vocab_size=vocab, n_positions=positions,
                                          tie_word_embeddings=tie, bos_token_id=0, eos_token_id=0))


def bert(layers: int, d: int, vocab: int, positions: int):
    T = hf()
    return T.BertForMaskedLM(T.BertConfig(num_hidden_layers=layers, hidden_size=d, num_attention_heads=2,
                                          intermediate_size=2 * d, vocab_size=vocab, max_position_embeddings=positions,
                                          pad_token_id=0))


def vit(layers: int, d: int, image: int, labels: int, patch: int = 4):
    T = hf()
    return T.ViTForImageClassification(T.ViTConfig(num_hidden_layers=layers, hidden_size=d, num_attention_heads=2,
                                                   intermediate_size=2 * d, image_size=image, patch_size=patch,
                                                   num_labels=labels))


def llama(layers: int, d: int, vocab: int, positions: int):
    T = hf()
    return T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=layers, hidden_size=d, num_attention_heads=2,
                                            num_key_value_heads=1, intermediate_size=2 * d, vocab_size=vocab,
                                            max_position_embeddings=positions))


def gemma(layers: int, d: int, vocab: int, positions: int):
    """Gemma: a Llama-style decoder whose RMSNorm scales by (1 + weight) and starts at weight 0."""
    T = hf()
    return T.GemmaForCausalLM(T.GemmaConfig(num_hidden_layers=layers, hidden_size=d, num_attention_heads=2,
                                            num_key_value_heads=1, head_dim=d // 2, intermediate_size=2 * d,
                                            vocab_size=vocab, max_position_embeddings=positions))


def gemma2(layers: int, d: int, vocab: int, positions: int):
    """Gemma-2: Gemma's decoder with a norm at the end of each residual branch (before the add)."""
    T = hf()
    return T.Gemma2ForCausalLM(T.Gemma2Config(num_hidden_layers=layers, hidden_size=d, num_attention_heads=2,
                                              num_key_value_heads=1, head_dim=d // 2, intermediate_size=2 * d,
                                              vocab_size=vocab, max_position_embeddings=positions))


def t5(layers: int, d: int, vocab: int, gated: bool = False):
    T = hf()
    ff = {"feed_forward_proj": "gated-gelu"} if gated else {}      # T5 v1.1 / Flan-T5: wi_0 -gelu-> x wi_1
    return T.T5ForConditionalGeneration(T.T5Config(num_layers=layers, d_model=d, d_kv=d // 2, num_heads=2,
                                                   d_ff=2 * d, vocab_size=vocab, decoder_start_token_id=0, **ff))


def resnet(widths=(8, 16), labels: int = 10, channels: int = 3):
    """Basic blocks with BatchNorm (HF's ResNet: the torchvision layout, kaiming_normal fan_out convs)."""
    T = hf()
    return T.ResNetForImageClassification(T.ResNetConfig(num_channels=channels, embedding_size=widths[0],
                                                         hidden_sizes=list(widths), depths=[1] * len(widths),
                                                         layer_type="basic", num_labels=labels))


def convnext(widths=(8, 16), labels: int = 10, channels: int = 3, patch: int = 2):
    """LayerNorm, depthwise 7x7, GELU, layer scale 1e-6 (HF's ConvNeXt: N(0, 0.02) convs)."""
    T = hf()
    return T.ConvNextForImageClassification(T.ConvNextConfig(num_channels=channels, patch_size=patch,
                                                             hidden_sizes=list(widths), depths=[1] * len(widths),
                                                             num_stages=len(widths), num_labels=labels))


def swin(labels: int = 10, channels: int = 3, image: int = 16):
    """Windowed attention with relative position bias tables (HF's Swin)."""
    T = hf()
    return T.SwinForImageClassification(T.SwinConfig(image_size=image, patch_size=2, num_channels=channels, embed_dim=8,
                                                     depths=[1, 1], num_heads=[2, 2], window_size=4,
                                                     num_labels=labels))


def convnextv2(widths=(8, 16), labels: int = 10, channels: int = 3, patch: int = 2):
    """ConvNeXt V2: Global Response Normalization instead of layer scale (HF's ConvNextV2)."""
    T = hf()
    return T.ConvNextV2ForImageClassification(T.ConvNextV2Config(num_channels=channels, patch_size=patch,
                                                                 hidden_sizes=list(widths), depths=[1] * len(widths),
                                                                 num_stages=len(widths), num_labels=labels))
