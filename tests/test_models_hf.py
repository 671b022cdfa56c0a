"""`hf:TYPE[:key=value,...]` model specs (models_hf.py): a Hugging Face model from its config, offline, no weights;
big configs stay on the meta device and are planned, never run."""
import json

import pytest
import torch

from initlab.cli.main import main
from initlab.models import build_model, example_inputs
from tests._hf_tiny import hf

TINY_LLAMA = "hf:llama:num_hidden_layers=1,hidden_size=32,intermediate_size=64,num_attention_heads=2,vocab_size=50"


def _one_line_exit_2(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("initlab: error:") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, (n, err)


def test_small_config_is_a_real_model_with_token_inputs():
    hf()
    m = build_model(TINY_LLAMA)
    assert type(m).__name__ == "LlamaForCausalLM" and m.config.hidden_size == 32 and m.config.vocab_size == 50
    assert not any(p.is_meta for p in m.parameters())
    x = example_inputs(m, 8, seed=0)
    assert x.dtype == torch.int64 and x.shape == (8, 16) and 0 <= int(x.min()) and int(x.max()) < 50
    assert m(input_ids=x).logits.shape == (8, 16, 50)


def test_cli_plans_and_checks_a_small_config(capsys):
    hf()
    assert main(["plan", TINY_LLAMA, "--apply-check", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["apply_check"]["ok"]
    names = {r["name"] for r in d["rows"]}
    assert "model.layers.0.mlp.down_proj.weight" in names
    down = next(r for r in d["rows"] if r["name"] == "model.layers.0.mlp.down_proj.weight")
    assert "residual branch" in down["reason"]                 # the block table read the decoder layer


def test_big_config_stays_on_meta_and_is_planned_expert_by_expert(capsys):
    """Mixtral-8x7B's default config (46.7 B parameters) is planned without memory: one row per expert half."""
    hf()
    m = build_model("hf:mixtral")
    assert all(p.is_meta for p in m.parameters())
    assert main(["plan", "hf:mixtral", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    experts = [r for r in rows if ".experts.gate_up_proj[" in r["name"]]
    assert len(experts) == 32 * 8 * 2                         # layers x experts x (gate, up) halves
    assert all(r["shape"] == [14336, 4096] and r["fan_in"] == 4096 for r in experts)
    _one_line_exit_2(capsys, ["plan", "hf:mixtral", "--policy", "lsuv"], "meta device", "--policy='lsuv'")
    _one_line_exit_2(capsys, ["plan", "hf:mixtral", "--apply-check"], "--apply-check", "meta device")


@pytest.mark.parametrize("spec, needles", [
    ("hf:mixtrel", ["hf:TYPE", "Did you mean", "mixtral"]),
    ("hf:llama:num_hidden_layers", ["key=value", "'num_hidden_layers'"]),
    ("hf:llama:hidden_size=31,num_attention_heads=2", ["transformers could not build it", "LlamaConfig"]),
    ("hf:resnet:hidden_sizes=[8,16", ["key=[a,b,...]", "close each list"]),
    ("hf:resnet:hidden_sizes=8,16]", ["key=[a,b,...]", "close each list"]),
])
def test_bad_hf_specs_are_one_line_errors(capsys, spec, needles):
    hf()
    _one_line_exit_2(capsys, ["plan", spec], f"spec={spec!r}", *needles)


@pytest.mark.parametrize("spec", [
    "hf:t5:num_layers=1,d_model=32,d_kv=16,num_heads=2,d_ff=64,vocab_size=50",      # wants decoder inputs too
    "hf:resnet:embedding_size=8,num_channels=1",                                     # no input embeddings at all
])
def test_models_whose_batch_cannot_be_guessed_are_planned_without_one(capsys, spec):
    """Token ids alone do not run an encoder-decoder, and a CNN config has no token table: no guessed batch (the
    tools say so instead of feeding floats to an embedding), and the plan reads the structure without one."""
    hf()
    m = build_model(spec)
    with pytest.raises(Exception, match="input shape"):
        example_inputs(m, 4)
    assert main(["plan", spec, "--apply-check"]) == 0
    assert "apply-check: ok" in capsys.readouterr().out


def test_list_values_are_written_in_brackets():
    """A config key that takes a list (a CNN's stage widths and depths) is written key=[a,b,...]; the commas inside
    the brackets belong to the list, the ones outside separate the overrides."""
    hf()
    m = build_model("hf:resnet:num_channels=1,embedding_size=8,hidden_sizes=[8,16],depths=[1,2],layer_type=basic")
    assert m.config.hidden_sizes == [8, 16] and m.config.depths == [1, 2] and m.config.num_channels == 1
    assert m.config.layer_type == "basic" and len(m.encoder.stages) == 2 and len(m.encoder.stages[1].layers) == 2
