"""Optimizers, learning-rate schedules and parameter penalties built from OptimConfig."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from rlgen.config import OptimConfig
from rlgen.errors import ConfigError


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer named by `cfg.name` with its hyper-parameters."""
    params = list(params)
    if not params:
        raise ConfigError("the optimizer was given no parameters to train")
    if cfg.lr <= 0:
        raise ConfigError(f"optim.lr must be > 0, got {cfg.lr}")
    kind: type[torch.optim.Optimizer]
    options: dict[str, Any]
    if cfg.name == "sgd":
        nesterov = cfg.nesterov and cfg.momentum > 0
        kind, options = torch.optim.SGD, {"momentum": cfg.momentum, "nesterov": nesterov}
    elif cfg.name == "rmsprop":
        kind, options = torch.optim.RMSprop, {"momentum": cfg.momentum, "eps": cfg.eps}
    elif cfg.name == "adagrad":
        kind, options = torch.optim.Adagrad, {"eps": cfg.eps}
    elif cfg.name in ("adam", "adamw"):
        kind = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        options = {"betas": cfg.betas, "eps": cfg.eps}
    else:
        raise ConfigError(f"unknown optimizer '{cfg.name}'; choices: sgd, rmsprop, adagrad, adam, adamw")
    options.update(lr=cfg.lr, weight_decay=cfg.weight_decay)
    # The fused kernels (one C++ loop over all tensors) beat the multi-tensor (foreach) path,
    # which beats torch's per-tensor default on CPU: the many small tensors of RL networks
    # make the step's op count, not its math, the cost. Same update either way.
    if _can_fuse(params, cfg.name):
        try:
            return kind(params, **options, fused=True)
        except (RuntimeError, TypeError, ValueError):
            # Which devices have which fused kernel changes between torch releases (FUSED_DEVICES
            # is torch 2.13's) and torch refuses the others here; a real config error recurs below.
            pass
    return kind(params, **options, foreach=True)


# ----------------------------------------------------------------------------- private torch fast paths
# Each fast path below calls torch internals that carry no compatibility promise, so a
# user's own torch (another version, a CUDA build) may lack them or change them. Each has
# one feature check, probed once on first use on tiny tensors against the public call it
# replaces; where it fails, the public call is used.


@functools.cache
def has_foreach_clip() -> bool:
    """Whether `torch._foreach_norm` / `torch._foreach_mul_` (scalar and tensor factors)
    give `clip_gradients` the numbers of `torch.nn.utils.clip_grad_norm_`."""
    try:
        grads = [torch.tensor([3.0, 4.0]), torch.tensor([12.0])]
        norms = torch._foreach_norm(grads)
        torch._foreach_mul_(grads, 0.5)
        torch._foreach_mul_(grads, torch.tensor(2.0))
        return [float(n) for n in norms] == [5.0, 12.0] and grads[0].tolist() == [3.0, 4.0]
    except Exception:  # any failure of an internal means: use the public call
        return False


@functools.cache
def has_foreach_ema() -> bool:
    """Whether `torch._foreach_copy_` / `torch._foreach_lerp_` give `EMAUpdate` the numbers
    of `AveragedModel.update_parameters`."""
    try:
        averaged, source = [torch.zeros(3)], [torch.tensor([1.0, 2.0, 3.0])]
        torch._foreach_copy_(averaged, source)
        copied = torch.equal(averaged[0], source[0])
        expected = averaged[0].lerp(torch.tensor([2.0, 0.0, 5.0]), 0.25)
        torch._foreach_lerp_(averaged, [torch.tensor([2.0, 0.0, 5.0])], 0.25)
        return copied and torch.equal(averaged[0], expected)
    except Exception:
        return False


_direct_fused_adam_ok: bool | None = None


def has_direct_fused_adam() -> bool:
    """Whether `step_optimizer` may call `torch._fused_adam_` / `torch._fused_adamw_` itself:
    the hook registries it checks exist and, on a tiny parameter, its update, moments and
    step counter equal `optimizer.step()`'s bit for bit. Undecided (and False) while global
    optimizer hooks are registered, which the probe's own `step()` calls would fire."""
    global _direct_fused_adam_ok
    if _direct_fused_adam_ok is None:
        _direct_fused_adam_ok = _probe_direct_fused_adam()
    return bool(_direct_fused_adam_ok)


def _probe_direct_fused_adam() -> bool | None:
    try:
        from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

        if _global_optimizer_pre_hooks or _global_optimizer_post_hooks:
            return None
        # An AdamW that is no Adam (older torch) never takes the direct path: nothing to probe.
        kinds = [kind for kind in (torch.optim.Adam, torch.optim.AdamW) if issubclass(kind, torch.optim.Adam)]
        for kind in kinds:
            params = [nn.Parameter(torch.linspace(-1.0, 1.0, 5)) for _ in range(2)]
            opts = [kind([p], lr=0.1, weight_decay=0.1, fused=True) for p in params]
            for step in range(3):  # the first steps create the state, the last one is compared
                for param in params:
                    param.grad = torch.linspace(0.5, -0.3, 5) * (step + 1)
                if step < 2:
                    opts[0].step()
                elif not _direct_fused_adam(opts[0]):
                    return False
                opts[1].step()
            states = [opt.state[p] for p, opt in zip(params, opts, strict=True)]
            same = torch.equal(params[0], params[1]) and all(
                torch.equal(states[0][key], states[1][key]) for key in ("exp_avg", "exp_avg_sq", "step")
            )
            if not same:
                return False
        return True
    except Exception:
        return False


def clip_gradients(params: list[nn.Parameter], max_norm: float) -> float:
    """Scale the gradients of `params` to a total L2 norm of at most `max_norm` (inf: just
    measure it) and return the norm before clipping: `clip_grad_norm_`'s numbers in two
    multi-tensor ops (three when it clips), without its per-call grouping, which costs as
    much again on small nets."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if not has_foreach_clip() or len({(g.device, g.dtype) for g in grads}) > 1 or any(g.is_sparse for g in grads):
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if grads[0].dtype != torch.float32:
        if math.isfinite(max_norm):
            torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp_(max=1.0))
        return float(total)
    norm = float(total)
    if math.isfinite(max_norm):
        # torch's coefficient, max_norm * (1 / (norm + 1e-6)) clamped to 1, in float32 as torch
        # computes it, but as numpy scalars (four tensor ops less per step); a coefficient of
        # 1 leaves the gradients as they are, so only a real clip multiplies.
        coef = np.float32(max_norm) * (np.float32(1.0) / (np.float32(norm) + np.float32(1e-6)))
        if coef < 1.0:
            torch._foreach_mul_(grads, float(coef))
    return norm


def step_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """`optimizer.step()`; for a fused Adam / AdamW past its first step, the same fused
    kernel called directly. torch's step wrapper (hooks, profiler scope, grad-mode switch,
    per-step state checks) costs ~0.1 ms, as much as the whole update of a small RL network
    on CPU. Anything the direct call does not cover goes through `step()`."""
    direct = isinstance(optimizer, torch.optim.Adam) and has_direct_fused_adam() and _direct_fused_adam(optimizer)
    if not direct:
        optimizer.step()


def _direct_fused_adam(optimizer: torch.optim.Adam) -> bool:
    """Step a fused Adam / AdamW with its kernel and return True, or return False (nothing
    done) where `step()` must do it: hooks, options the direct call leaves out, no state yet."""
    from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

    hooked = optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
    if hooked or _global_optimizer_pre_hooks or _global_optimizer_post_hooks:
        return False
    plans = []
    for group in optimizer.param_groups:
        params = group["params"]
        plain = group["fused"] and not (
            group["amsgrad"] or group["maximize"] or group["capturable"] or group["differentiable"]
        )
        if not plain or isinstance(group["lr"], torch.Tensor) or len({(p.device, p.dtype) for p in params}) > 1:
            return False
        states = [optimizer.state.get(p) for p in params]
        if any(p.grad is None or p.grad.is_sparse for p in params) or not all(states):
            return False  # the first step creates the state; parameters without gradients are skipped by step()
        plans.append((group, params, states))
    with torch.no_grad():
        for group, params, states in plans:
            steps = [state["step"] for state in states]
            torch._foreach_add_(steps, 1)
            # AdamW is an Adam with decoupled weight decay in recent torch; older groups lack the key
            kernel = torch._fused_adamw_ if group.get("decoupled_weight_decay") else torch._fused_adam_
            beta1, beta2 = group["betas"]
            kernel(
                params,
                [p.grad for p in params],
                [state["exp_avg"] for state in states],
                [state["exp_avg_sq"] for state in states],
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
    return True


class EMAUpdate:
    """`ema.update_parameters(model)` for an AveragedModel made with `use_buffers=True` and
    `get_ema_multi_avg_fn(decay)`, with the tensor lists built once: torch walks both module
    trees on every call, which costs more than the averaging itself for small networks (~9%
    of a CartPole DQN run). The same numbers as torch's (test)."""

    def __init__(self, ema: AveragedModel, model: nn.Module, decay: float) -> None:
        self.ema, self.model, self.decay = ema, model, decay
        groups: dict[tuple[torch.device, torch.dtype], tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        averaged = [*ema.module.parameters(), *ema.module.buffers()]
        source = [*model.parameters(), *model.buffers()]
        self.direct = (
            has_foreach_ema()
            and len(averaged) == len(source)
            and all(a.device == b.device for a, b in zip(averaged, source, strict=False))
        )
        for a, b in zip(averaged, source, strict=False):
            pair = groups.setdefault((a.device, a.dtype), ([], []))
            pair[0].append(a.detach())
            pair[1].append(b.detach())
        self.groups = list(groups.values())

    @torch.no_grad()
    def __call__(self) -> None:
        if not self.direct:
            self.ema.update_parameters(self.model)
            return
        first = int(self.ema.n_averaged) == 0
        for averaged, source in self.groups:
            if first:
                torch._foreach_copy_(averaged, source)
            elif averaged[0].is_floating_point() or averaged[0].is_complex():
                torch._foreach_lerp_(averaged, source, 1 - self.decay)
            else:  # integer buffers (batch-norm counters), as torch's EMA function does them
                for a, b in zip(averaged, source, strict=True):
                    a.copy_(a * self.decay + b * (1 - self.decay))
        self.ema.n_averaged += 1


# which optimizers have a fused kernel on which devices (torch 2.13)
FUSED_DEVICES = {"sgd": {"cpu", "cuda"}, "adam": {"cpu", "cuda"}, "adamw": {"cpu", "cuda"}, "adagrad": {"cpu"}}


def _can_fuse(params: list[nn.Parameter], name: str) -> bool:
    devices = FUSED_DEVICES.get(name, set())
    return all(p.dtype.is_floating_point and p.device.type in devices for p in params)


class LRFactor:
    """Multiplier of the peak lr at optimizer step t: linear warm-up, then the schedule.

    Everything it needs comes from the config; the step counter lives in the scheduler,
    so a resumed run rebuilds the factor from its config and loads only the counter.
    """

    def __init__(self, cfg: OptimConfig, total_steps: int) -> None:
        self.cfg = cfg
        self.total_steps = max(int(total_steps), 1)

    def __call__(self, step: int) -> float:
        cfg = self.cfg
        if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = step - cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        if cfg.schedule == "linear":
            progress = min(t / max(self.total_steps - cfg.warmup_steps, 1), 1.0)
            return 1.0 - (1.0 - cfg.min_lr_ratio) * progress
        if cfg.schedule == "exponential":
            return cfg.gamma ** (t / max(cfg.decay_steps, 1))
        if cfg.schedule == "inverse_time":
            return 1.0 / (1.0 + cfg.decay_rate * t / max(cfg.decay_steps, 1))
        if cfg.schedule == "step":
            return cfg.gamma ** (t // max(cfg.step_size, 1))
        if cfg.schedule == "cosine":
            span = max(self.total_steps - cfg.warmup_steps, 1)
            progress = min(t / span, 1.0)
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        raise ConfigError(
            f"unknown schedule '{cfg.schedule}'; choices: constant, linear, exponential, inverse_time, step, cosine"
        )


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR driven by LRFactor, stepped once per optimizer step."""
    factor = LRFactor(cfg, total_steps)
    factor(0)  # fail early on a bad schedule name
    # A plain function keeps the config out of the scheduler's state_dict (LambdaLR saves
    # the __dict__ of callable objects), so checkpoints stay weights_only-loadable.
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step))


def weight_params(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    """Parameters that penalties apply to: weight matrices and kernels, not biases or norms."""
    return [p for p in params if p.requires_grad and p.dim() > 1]


def penalty(params: list[nn.Parameter], l1: float, l2: float) -> dict[str, torch.Tensor]:
    """L1 / L2 penalty terms (only those with a non-zero coefficient)."""
    terms: dict[str, torch.Tensor] = {}
    if l1 > 0:
        terms["l1_penalty"] = l1 * sum(p.abs().sum() for p in params)
    if l2 > 0:
        terms["l2_penalty"] = l2 * sum(p.pow(2).sum() for p in params)
    return terms
