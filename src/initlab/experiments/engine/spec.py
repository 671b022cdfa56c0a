"""What `fit` needs besides the stack: the training settings (TrainConfig), the data (TrainData),
and what it returns per model (RunResult)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ...errors import bad_argument, unknown_choice
from .losses import LOSSES
from .optim import OPTIMIZERS
from .schedule import LR_SCHEDULES


@dataclass
class TrainConfig:
    """Training settings shared by every stack.

    eval_epochs: None = evaluate after every epoch, else the epochs to evaluate at (the last epoch is
    always evaluated); eval_train: also evaluate on the whole training set (in eval mode), as
    "train_eval_*"; row: None = the compare row {"epoch", "train_loss", "val_loss", "val_acc"|"val_mse"},
    else a function (epoch, metrics dict) -> history row (see fit.py); lr_schedule: how the learning rate
    moves over the run's steps, one of LR_SCHEDULES (schedule.py; default "constant")."""
    epochs: int
    lr: float
    batch_size: int
    optimizer: str = "sgd"
    loss: str = "cross_entropy"
    momentum: float = 0.0
    weight_decay: float = 0.0
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    eval_epochs: list | None = None
    eval_train: bool = False
    row: object = None
    lr_schedule: str = "constant"

    def check(self) -> "TrainConfig":
        where = "train"
        if self.optimizer not in OPTIMIZERS:
            raise unknown_choice(where, "optimizer", self.optimizer, OPTIMIZERS, "e.g. --optimizer sgd")
        if self.lr_schedule not in LR_SCHEDULES:
            raise unknown_choice(where, "lr_schedule", self.lr_schedule, LR_SCHEDULES, "e.g. --lr-schedule cosine")
        if self.loss not in LOSSES:
            raise unknown_choice(where, "loss", self.loss, LOSSES, "or leave loss=None to pick it from the task")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise bad_argument(where, "epochs", self.epochs, "a positive integer", "e.g. --epochs 2")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad_argument(where, "batch_size", self.batch_size, "a positive integer", "e.g. --batch-size 100")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise bad_argument(where, "lr", self.lr, "a positive finite learning rate", "e.g. --lr 0.05")
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise bad_argument(where, "momentum", self.momentum, "a number in [0, 1)", "e.g. --momentum 0.9")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise bad_argument(where, "weight_decay", self.weight_decay, "a finite number >= 0",
                               "e.g. --weight-decay 1e-4")
        if self.momentum and self.optimizer != "sgd":
            raise bad_argument(where, "momentum", self.momentum, f"0 with optimizer {self.optimizer!r} (Adam has "
                               "its own moment estimates)", "drop --momentum, or use --optimizer sgd")
        return self

    def evaluates(self, epoch: int) -> bool:
        return self.eval_epochs is None or epoch == self.epochs or epoch in self._eval_set()

    def _eval_set(self) -> set:
        s = getattr(self, "_evs", None)
        if s is None:
            s = self._evs = set(int(e) for e in self.eval_epochs)
        return s


@dataclass
class TrainData:
    """Tensors the stacks index: x_* of shape (N, *input_shape), y_* int64 (N,) or float (N, D)."""
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int | None = None
    val_split: str = "val"      # which split x_val really is: "val", "test" or "train"

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])


@dataclass
class RunResult:
    """One model's training: status ("finished" | "diverged"), history rows, last row, seconds."""
    status: str
    history: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    seconds: float = 0.0
