"""Trained quality of `auto` on the models people bring (recurrent nets, Hugging Face transformers and CNNs),
against torch's (or Hugging Face's) default, the fixed schemes and the peers.

The same machinery as benchmarks/auto_quality.py (columns, same freshly built model per seed, same batches,
one engine call per task and block of seeds; the engine says which path ran: recurrent layers have no vmap
rule and GPT-2's classifier calls .item(), so those train one after another), on two groups of tasks:

  recurrent (every column):
    lstm-digits-sgd   digits' 8x8 image as 8 rows of 8 pixels in [0, 1] -> 2-layer LSTM(64) -> last state -> 10
    lstm-digits-adam  the same with Adam
    gru-mnist1d-adam  MNIST-1D's 40 standardized values as 40 steps of 1 -> GRU(64) -> last state -> 10
  Hugging Face (built from configs, no weights; anyinit 0.x fails on GPT-2's Conv1D bias, so no anyinit column):
    gpt2-digits-adam  digits' 64 pixel values (0..16) as 64 tokens -> GPT2ForSequenceClassification (2 layers, 64)
    bert-digits-adam  the same tokens -> BertForSequenceClassification (2 layers, 64, ff 128)
    llama-digits-adam the same tokens -> LlamaForSequenceClassification (2 layers, 64, SiLU-gated ff 128)
    t5-digits-adam    the same tokens -> T5EncoderModel (2 layers, 64, 4 heads of 16, ff 128) -> mean -> Linear
    phi3-digits-adam  the same tokens -> Phi3ForSequenceClassification (2 layers, 64, fused qkv and gate|up, ff 128)
    neox-digits-adam  the same tokens -> GPTNeoXForSequenceClassification (2 layers, 64, parallel attention + MLP)
    mixtral-digits-adam the same tokens -> MixtralForSequenceClassification (2 layers, 64, 4 experts of ff 128, top 2)
    vit-digits-adam   digits' 8x8 image, 2x2 patches -> ViTForImageClassification (2 layers, 64, ff 128)
    modernbert-digits-adam the same tokens -> ModernBertForSequenceClassification (2 layers, 64, rotary, GeGLU 128)
  CNNs (Hugging Face, built from configs; every column, anyinit included):
    resnet-fashion-sgd     a 1000-image Fashion-MNIST subset -> ResNetForImageClassification (basic blocks,
                           BatchNorm, stages of 16/32/64), SGD
    convnext-fashion-adam  the same images -> ConvNextForImageClassification (patch 2, LayerNorm, layer scale
                           1e-6, stages of 16/32/64), Adam
    mobilenet-fashion-adam / -sgd  the same images -> MobileNetV2ForImageClassification (depth multiplier 0.35,
                           BatchNorm after every conv), Adam / SGD
  the CNN group has one more column, auto-fan: auto(scale_free="fan"), i.e. without the rule that gives weights
  only norms read the model's declared init std (ConvNeXt and MobileNetV2 declare 0.02; ResNet declares none)
  "torch-default" is the column of the module's own reset; for the Hugging Face models "torch-default-ctor"
  (nothing re-initialized: Hugging Face's own _init_weights, std 0.02; ResNet: kaiming_normal fan_out convs) is
  the default a user gets.

    python benchmarks/auto_models.py [--seeds 8] [--group recurrent|hf|cnn|all] [--save runs.json]
                                     [--lr-schedule constant|cosine|linear]

Why these: digits' pixels are not standardized (mean of squares 0.23), MNIST-1D's are (1.0), so the recurrent
pair shows what auto's measured input scale (auto_data.rnn_input) does where the fan rules' unit-input
assumption fails and where it holds; the CNNs cover BatchNorm (ResNet, MobileNetV2) and LayerNorm with layer
scale (ConvNeXt), under both optimizers.  Results and history: docs/auto_quality.md ("Hugging Face models",
"Recurrent layers", "CNNs people bring").
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import auto_quality as q  # noqa: E402  (the suite's columns, training and table)


def _transformers():
    """The transformers module, quiet (building from a config logs nothing worth reading here)."""
    import transformers
    transformers.logging.set_verbosity_error()
    return transformers


class RowsRNN(nn.Module):
    """An (n, n_in) sample read as `steps` rows -> recurrent layer(s) of `hidden` -> last state -> 10 logits."""

    def __init__(self, cls=nn.LSTM, n_in=64, steps=8, hidden=64, layers=2):
        super().__init__()
        self.steps = steps
        self.rnn = cls(n_in // steps, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 10)
        self.initlab_input_shape = (n_in,)

    def forward(self, x):
        h, _ = self.rnn(x.view(x.shape[0], self.steps, -1))
        return self.head(h[:, -1])


class TokenClassifier(nn.Module):
    """digits' 64 pixel values (0..16, the data's /16 undone) as 64 tokens -> a Hugging Face sequence classifier."""

    def __init__(self, kind: str):
        super().__init__()
        transformers = _transformers()
        if kind == "gpt2":     # pad id 17 never occurs, so the classifier reads the last token
            cfg = transformers.GPT2Config(vocab_size=18, n_positions=64, n_embd=64, n_layer=2, n_head=4, num_labels=10,
                                          pad_token_id=17, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
            self.m = transformers.GPT2ForSequenceClassification(cfg)
        elif kind == "llama":  # the same pad id; RMSNorm, rotary positions, SiLU-gated MLP, no biases
            cfg = transformers.LlamaConfig(vocab_size=18, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                           num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                                           num_labels=10, pad_token_id=17)
            self.m = transformers.LlamaForSequenceClassification(cfg)
        elif kind == "phi3":   # the same pad id; fused qkv and fused gate|up projections (SiLU-gated), RMSNorm
            cfg = transformers.Phi3Config(vocab_size=18, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                                          num_labels=10, pad_token_id=17, resid_pdrop=0.0, embd_pdrop=0.0,
                                          attention_dropout=0.0)
            self.m = transformers.Phi3ForSequenceClassification(cfg)
        elif kind == "neox":   # the same pad id; parallel attention and MLP (x + attn(ln1 x) + mlp(ln2 x)), GELU
            cfg = transformers.GPTNeoXConfig(vocab_size=18, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, max_position_embeddings=64, num_labels=10,
                                             pad_token_id=17, hidden_dropout=0.0, attention_dropout=0.0)
            self.m = transformers.GPTNeoXForSequenceClassification(cfg)
        elif kind == "mixtral":  # the same pad id; 4 experts (3-D weights), top-2 routing, SiLU-gated experts
            cfg = transformers.MixtralConfig(vocab_size=18, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                                             num_labels=10, pad_token_id=17, num_local_experts=4, num_experts_per_tok=2,
                                             output_router_logits=False)
            self.m = transformers.MixtralForSequenceClassification(cfg)
        elif kind == "modernbert":  # a bidirectional encoder with rotary positions, GeGLU (fused Wi), no biases
            cfg = transformers.ModernBertConfig(vocab_size=18, hidden_size=64, intermediate_size=128,
                                                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
                                                num_labels=10, pad_token_id=17, bos_token_id=17, eos_token_id=17,
                                                cls_token_id=17, sep_token_id=17, embedding_dropout=0.0,
                                                mlp_dropout=0.0, attention_dropout=0.0, global_attn_every_n_layers=1)
            self.m = transformers.ModernBertForSequenceClassification(cfg)
        elif kind == "t5":     # the encoder (relative position buckets, RMSNorm, attention without 1/sqrt(d_k))
            cfg = transformers.T5Config(vocab_size=17, d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2,
                                        dropout_rate=0.0, decoder_start_token_id=0)
            self.m = transformers.T5EncoderModel(cfg)
            self.head = nn.Linear(64, 10)       # reads the mean over tokens of the final (RMS-normed) states
        else:
            cfg = transformers.BertConfig(vocab_size=17, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=128, max_position_embeddings=64, num_labels=10,
                                          hidden_dropout_prob=0, attention_probs_dropout_prob=0)
            self.m = transformers.BertForSequenceClassification(cfg)
        self.initlab_input_shape = (64,)

    def forward(self, x):
        ids = (x * 16).round().long().clamp(0, 16)
        if hasattr(self, "head"):
            return self.head(self.m(input_ids=ids).last_hidden_state.mean(1))
        return self.m(input_ids=ids).logits


class PatchClassifier(nn.Module):
    """digits' 8x8 image (pixels in [0, 1]) as 16 patches of 2x2 -> a Hugging Face ViT classifier (pre-norm)."""

    def __init__(self):
        super().__init__()
        transformers = _transformers()
        cfg = transformers.ViTConfig(image_size=8, patch_size=2, num_channels=1, hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=128, num_labels=10,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        self.m = transformers.ViTForImageClassification(cfg)
        self.initlab_input_shape = (64,)

    def forward(self, x):
        return self.m(pixel_values=x.view(x.shape[0], 1, 8, 8)).logits


RECURRENT = [
    q.Task("lstm-digits-sgd", "digits", lambda: RowsRNN(nn.LSTM), "sgd", 0.05, 12),
    q.Task("lstm-digits-adam", "digits", lambda: RowsRNN(nn.LSTM), "adam", 1e-3, 12),
    q.Task("gru-mnist1d-adam", "mnist1d", lambda: RowsRNN(nn.GRU, 40, 40, 64, 1), "adam", 2e-3, 8),
]
HF = [
    q.Task("gpt2-digits-adam", "digits", lambda: TokenClassifier("gpt2"), "adam", 1e-3, 6),
    q.Task("bert-digits-adam", "digits", lambda: TokenClassifier("bert"), "adam", 1e-3, 6),
    q.Task("llama-digits-adam", "digits", lambda: TokenClassifier("llama"), "adam", 1e-3, 6),
    q.Task("t5-digits-adam", "digits", lambda: TokenClassifier("t5"), "adam", 1e-3, 6),
    q.Task("phi3-digits-adam", "digits", lambda: TokenClassifier("phi3"), "adam", 1e-3, 6),
    q.Task("neox-digits-adam", "digits", lambda: TokenClassifier("neox"), "adam", 1e-3, 6),
    q.Task("mixtral-digits-adam", "digits", lambda: TokenClassifier("mixtral"), "adam", 1e-3, 6),
    q.Task("vit-digits-adam", "digits", PatchClassifier, "adam", 1e-3, 6),
    q.Task("modernbert-digits-adam", "digits", lambda: TokenClassifier("modernbert"), "adam", 1e-3, 6),
]


class ImageClassifier(nn.Module):
    """A 28x28 Fashion-MNIST image (pixels in [0, 1]) -> a Hugging Face CNN classifier built from its config:
    "resnet" (basic blocks with BatchNorm, 3 stages of 16/32/64 channels), "convnext" (LayerNorm, GELU, layer
    scale 1e-6, patch size 2, 3 stages of 16/32/64) or "mobilenet" (MobileNetV2, depth multiplier 0.35)."""

    def __init__(self, kind: str):
        super().__init__()
        transformers = _transformers()
        if kind == "mobilenet":
            cfg = transformers.MobileNetV2Config(num_channels=1, image_size=28, depth_multiplier=0.35, num_labels=10)
            self.m = transformers.MobileNetV2ForImageClassification(cfg)
        elif kind == "resnet":
            cfg = transformers.ResNetConfig(num_channels=1, embedding_size=16, hidden_sizes=[16, 32, 64],
                                            depths=[1, 1, 1], layer_type="basic", num_labels=10)
            self.m = transformers.ResNetForImageClassification(cfg)
        else:
            cfg = transformers.ConvNextConfig(num_channels=1, patch_size=2, hidden_sizes=[16, 32, 64],
                                              depths=[1, 1, 1], num_stages=3, num_labels=10)
            self.m = transformers.ConvNextForImageClassification(cfg)
        self.initlab_input_shape = (784,)

    def forward(self, x):
        return self.m(pixel_values=x.view(x.shape[0], 1, 28, 28)).logits


CNN = [
    q.Task("resnet-fashion-sgd", "fashion", lambda: ImageClassifier("resnet"), "sgd", 0.01, 6),
    q.Task("convnext-fashion-adam", "fashion", lambda: ImageClassifier("convnext"), "adam", 1e-3, 6),
    q.Task("mobilenet-fashion-adam", "fashion", lambda: ImageClassifier("mobilenet"), "adam", 1e-3, 6),
    q.Task("mobilenet-fashion-sgd", "fashion", lambda: ImageClassifier("mobilenet"), "sgd", 0.01, 6),
]
# auto-fan: auto(scale_free="fan"), the fan rule also for weights only norms read where the model declares a std
CNN_COLUMNS = (["torch-default-ctor"] + [c for c in q.COLUMNS if c not in ("torch-default", "anyinit-analytic",
                                                                         "anyinit-empirical", "lsuv-pkg")]
               + ["auto-fan", "anyinit-analytic", "anyinit-empirical", "lsuv-pkg"])
HF_COLUMNS = ["torch-default-ctor"] + [c for c in q.COLUMNS if c not in ("torch-default", "anyinit-analytic",
                                                                          "anyinit-empirical")]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--group", choices=["recurrent", "hf", "cnn", "all"], default="all")
    ap.add_argument("--save", default="", help="JSON file of per-seed results; a rerun with it resumes")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "linear"],
                    help="the learning rate over each run's steps (default constant: the recorded tables)")
    a = ap.parse_args(argv)
    groups = {"recurrent": [(RECURRENT, q.COLUMNS)], "hf": [(HF, HF_COLUMNS)], "cnn": [(CNN, CNN_COLUMNS)]}
    groups = sum(groups.values(), []) if a.group == "all" else groups[a.group]
    for tasks, want in groups:
        columns, notes = q.available(want)
        for n in notes:
            print("note:", n)
        t0 = time.perf_counter()
        res = q.run(tasks, columns, a.seeds, a.jobs, save=a.save, schedule=a.lr_schedule)
        print()
        print(q.table(q.summarize(res, tasks, columns), columns, a.seeds))
        print(f"\n{time.perf_counter() - t0:.0f} s\n")


if __name__ == "__main__":
    main()
