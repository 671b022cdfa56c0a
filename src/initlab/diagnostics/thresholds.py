"""Every threshold the verdicts use, in one place.

Depth-wise verdicts (vanishing, exploding) compare *ratios across depth*, never
absolute values, so they do not depend on how the inputs or the loss are scaled:

* forward: the **signal std** of every hidden layer's output relative to the
  network input's.  The signal std is the std of each unit across the batch,
  averaged (as an RMS) over the units: the part of a layer's output that still
  depends on the input.  (The plain std is also reported, but a layer can keep a
  normal-looking std made only of its biases while the input signal has died:
  torch's default init on a 50-layer tanh MLP keeps std ~0.04 with a signal of
  ~5e-9 x the input's.)
* backward: the RMS of the gradient with respect to every layer's output,
  relative to the gradient at the last hidden layer (the layer closest to the
  output, which is the loss's own scale).

The evidence of each verdict also gives the per-layer factor
(end-to-end ratio ** (1 / depth)), which is what an initialization controls.

The backward limits are 10x wider than the forward ones: a gradient scale that
differs between layers only rescales each layer's effective learning rate (and
adaptive optimizers undo it), while a forward signal that shrinks 100x is mostly
gone.  Well-initialized deep nets sit near the forward limit on the backward side:
xavier_normal with gain 5/3 on a 50-layer tanh MLP (the textbook tanh init)
grows gradients ~1.09x per layer, i.e. ~100x from the last layer to the first,
while the pathological cases measured are 1e8x (N(0, 1) weights) and 1e-12x
(torch's default init) on the same nets.

Where they apply:

* exploding (forward) needs the signal that reaches the output layer (the head's
  own input: in a residual net that is x + branch, not the branch's last layer)
  or the output itself above the limit, or NaN after some layer was above it; the
  verdict then names every run of layers above the limit.  A layer before
  BatchNorm that is off-scale but renormalized is therefore not reported.
* vanishing (forward) likewise needs the arriving signal below the limit; the
  verdict names the last run of hidden layers below it (a zero-initialized last
  layer of a residual branch outputs nothing, and that is not a lost signal).
  The output layer is never "vanishing" (a zero-initialized head is fine).
* vanishing (backward) names the run of layers below the limit that starts at
  the first layer (a zero residual branch starves only its own inner layer).
  When the head's weights are all 0 no gradient reaches any hidden layer in the
  first step: that is a note, not a verdict.
* symmetric: units are copies only when their outputs *and* their gradients
  agree (then every update keeps them equal, forever).  Identical weight rows
  alone are not enough: a zero last layer of a residual branch has identical
  (zero) rows but its units get different gradients through the skip path.  The
  output layer is never called symmetric: the loss tells its units apart.
* dead: the cause given is, in this order, a vanished signal feeding the layer
  (then each unit's bias sign decides), biases more negative than the spread of
  the pre-activations, or the weights.

Per-unit verdicts (saturated, dead, symmetric) are fractions of a layer's units,
which are the same at every depth and width.  Runs of saturated or dead layers
separated by at most 2 layers below the limit are merged into one verdict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import bad_argument


@dataclass(frozen=True)
class Thresholds:
    """Limits for the verdicts.  Pass your own to ``diagnose(..., thresholds=Thresholds(dead=0.8))``."""

    #: vanishing (forward): a hidden layer's signal std < vanishing x the input's.
    vanishing: float = 1e-2
    #: exploding (forward): any layer's signal std > exploding x the input's (or inf).
    exploding: float = 1e2
    #: vanishing (backward): a hidden layer's gradient RMS < grad_vanishing x the last hidden layer's.
    grad_vanishing: float = 1e-3
    #: exploding (backward): a hidden layer's gradient RMS > grad_exploding x the last hidden layer's (or inf).
    grad_exploding: float = 1e3
    #: saturated: more than this fraction of a tanh/sigmoid layer's outputs are saturated.
    saturated: float = 0.30
    #: a tanh output y is saturated when |y| > tanh_saturation.
    tanh_saturation: float = 0.99
    #: a sigmoid output y is saturated when y < sigmoid_saturation or y > 1 - sigmoid_saturation.
    sigmoid_saturation: float = 0.01
    #: dead: more than this fraction of a ReLU/ReLU6 layer's units output 0 for every sample.
    dead: float = 0.50
    #: dead units are only judged when each unit sees at least this many values (batch x positions).
    min_samples_dead: int = 16
    #: symmetric: at least this fraction of a hidden layer's units copy another unit of the layer.
    symmetric: float = 0.10
    #: two units are copies when their outputs *and* their gradients agree to within
    #: identical_tol x the layer's largest |value| (outputs) / |gradient| (gradients): float32 rounding
    #: (~1e-6) passes, two distinct units almost never do.
    identical_tol: float = 1e-4
    #: overconfident: the starting cross-entropy (on the targets, else on random labels) > this x ln(classes)
    overconfident_loss: float = 1.5
    #: ...and by at least this many nats: with few classes a ratio alone fires on healthy heads (2 classes, logit
    #: std 1: loss ~1.06 = 1.5 ln 2, while i.i.d. logits of std s cost only ~s^2/2 nats over ln C)
    overconfident_excess: float = 1.0
    #: overconfident: or the logits' std across classes > this
    overconfident_std: float = 5.0

    def __post_init__(self):
        for name in ("vanishing", "grad_vanishing", "saturated", "dead", "symmetric", "identical_tol",
                     "tanh_saturation", "sigmoid_saturation"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (0 < v < 1):
                raise bad_argument("Thresholds", name, v, "a number strictly between 0 and 1",
                                   f"e.g. Thresholds({name}={getattr(Thresholds, name)})")
        for name in ("exploding", "grad_exploding", "overconfident_loss", "overconfident_std"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 1:
                raise bad_argument("Thresholds", name, v, "a number > 1",
                                   f"e.g. Thresholds({name}={getattr(Thresholds, name):g})")
        v = self.overconfident_excess
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
            raise bad_argument("Thresholds", "overconfident_excess", v, "a number of nats >= 0",
                               "e.g. Thresholds(overconfident_excess=1.0)")
        if not isinstance(self.min_samples_dead, int) or isinstance(self.min_samples_dead, bool) \
                or self.min_samples_dead < 1:
            raise bad_argument("Thresholds", "min_samples_dead", self.min_samples_dead, "a positive int",
                               "e.g. Thresholds(min_samples_dead=16)")

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_THRESHOLDS = Thresholds()

__all__ = ["Thresholds", "DEFAULT_THRESHOLDS"]
