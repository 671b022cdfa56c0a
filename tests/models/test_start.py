"""auto's starting point on real models: logits O(1), starting loss within 10 % of ln V (ln classes)."""
import math

import pytest
import torch

import initlab

CASES = ["gpt2", "bert", "encoder", "lstm", "vit", "timm-vit", "llama", "gemma", "t5"]


def start_loss(out, classes):
    """The expected starting cross-entropy over uniformly random labels (exact for these logits, no label
    sampling noise): mean over rows of logsumexp(z) - mean(z); and the logits' std."""
    z = (out.logits if hasattr(out, "logits") else out).reshape(-1, classes).double()
    return float((torch.logsumexp(z, -1) - z.mean(-1)).mean()), float(z.std())


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("with_inputs", [False, True])
def test_auto_starting_loss_near_ln_classes(models, name, with_inputs, ids, images):
    make, inputs, classes = models[name]
    torch.manual_seed(0)
    m = make()
    x = inputs(ids, images)
    initlab.init_(m, "auto", example_inputs=x if with_inputs else None, seed=0)
    m.eval()
    with torch.no_grad():
        out = m(**x) if isinstance(x, dict) else m(x)
    loss, std = start_loss(out, classes)
    assert abs(loss / math.log(classes) - 1) < 0.10, (loss, math.log(classes), std)
    assert 0.05 < std < 2.0


def test_n01_embedding_on_a_tied_head_is_far_off(mk, ids):
    """The failure auto fixes: torch's N(0, 1) on GPT-2's tied embedding (logit std ~ sqrt(d))."""
    m = mk.gpt2()
    initlab.init_(m, "torch-default", seed=0)
    with torch.no_grad():
        z = m(input_ids=ids).logits
    assert float(z.std()) > 4
    p = initlab.plan(m, "auto")
    s = initlab.policy.heads.logit_std(mk.V)                                          # sqrt(0.1 ln 1000)
    assert s == pytest.approx(math.sqrt(0.1 * math.log(1000)))
    assert p["transformer.wte.weight"].law["std"] == pytest.approx(s / math.sqrt(mk.D))
    assert p["transformer.wpe.weight"].law["std"] == pytest.approx(s / math.sqrt(mk.D))   # summed with it


def test_untied_embedding_keeps_unit_scale(mk):
    p = initlab.plan(mk.LSTMLM(), "auto")
    assert p["emb.weight"].law["std"] == 1.0
    p = initlab.plan(mk.LSTMLM(tie=True), "auto")
    assert p["emb.weight"].law["std"] == pytest.approx(initlab.policy.heads.logit_std(mk.V) / math.sqrt(mk.D))
