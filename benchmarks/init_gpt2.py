"""initlab on a 124M-parameter GPT-2 (Hugging Face GPT2LMHeadModel, built from its default config, no weights
downloaded): init time against Hugging Face's own init, and diagnose against a plain forward + backward.

Timed side by side in one process, alternating, and reported as ratios of medians (never absolute targets):

    hf        model.init_weights(): HF's _init_weights on every module (the `_is_hf_initialized` flags are
              cleared first, so every module is really re-initialized)
    gpt2      initlab.init_(model, "gpt2", seed=0): plan (fingerprints, structure from the block table) + apply
    auto      initlab.init_(model, "auto", seed=0)
    plain     model.zero_grad(set_to_none=True); model(input_ids=ids).logits.sum().backward()
    diagnose  initlab.diagnose(model, {"input_ids": ids})

Targets (issue 12): gpt2 / hf <= 1.1, diagnose / plain <= 3.

    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python benchmarks/init_gpt2.py [--threads N] [--repeats R]
        [--batch B] [--seq T] [--layers L]

Measured 2026-12-03 14:11-14:17 UTC (branch speed), shared 2-core VM at load 3.9-7.6, defaults (2 threads,
5 repeats): hf 1.057 s, gpt2 1.058 s, auto 1.088 s: gpt2/hf 1.00x, auto/hf 1.03x; plain fwd+bwd 17.6 s,
diagnose 27.4 s: diagnose/plain 1.56x.  (Earlier: gpt2/hf 0.96x.)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

import initlab  # noqa: E402


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def build(layers: int):
    import transformers as T
    T.logging.set_verbosity_error()
    cfg = T.GPT2Config(n_layer=layers)               # 124M at the default 12 layers, 768 wide, 50257 tokens
    return T.GPT2LMHeadModel(cfg)


def hf_init(model) -> None:
    for m in model.modules():
        m._is_hf_initialized = False
        for p in m.parameters(recurse=False):
            if hasattr(p, "_is_hf_initialized"):
                p._is_hf_initialized = False
    model.init_weights()


def side_by_side(fns: dict, repeats: int) -> dict:
    for fn in fns.values():                          # warm-up
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(_time(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--layers", type=int, default=12)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(a.layers)
    n = sum(p.numel() for p in model.parameters())
    print(f"GPT-2: {n / 1e6:.1f}M parameters, {a.layers} layers; torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, {platform.processor() or platform.machine()}, repeats {a.repeats}")

    # a check that each side really writes: zero a weight, re-init, it is random again
    for name, fn in (("hf", lambda: hf_init(model)), ("gpt2", lambda: initlab.init_(model, "gpt2", seed=0))):
        with torch.no_grad():
            model.transformer.h[0].mlp.c_fc.weight.zero_()
        fn()
        std = float(model.transformer.h[0].mlp.c_fc.weight.detach().std())
        assert abs(std / 0.02 - 1) < 0.05, (name, std)

    t = side_by_side({"hf": lambda: hf_init(model), "gpt2": lambda: initlab.init_(model, "gpt2", seed=0),
                      "auto": lambda: initlab.init_(model, "auto", seed=0)}, a.repeats)
    print(f"init: hf {t['hf']:.3f}s  gpt2 {t['gpt2']:.3f}s  auto {t['auto']:.3f}s   "
          f"gpt2/hf = {t['gpt2'] / t['hf']:.2f}x (target <= 1.1)  auto/hf = {t['auto'] / t['hf']:.2f}x")

    ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), generator=torch.Generator().manual_seed(0))
    initlab.init_(model, "gpt2", seed=0)

    def plain():
        model.zero_grad(set_to_none=True)
        model(input_ids=ids).logits.sum().backward()

    t = side_by_side({"plain": plain, "diagnose": lambda: initlab.diagnose(model, {"input_ids": ids})}, a.repeats)
    print(f"diagnose: plain fwd+bwd {t['plain']:.3f}s  diagnose {t['diagnose']:.3f}s   "
          f"diagnose/plain = {t['diagnose'] / t['plain']:.2f}x (target <= 3)  batch {a.batch} x {a.seq} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
