"""The Trainer: optimizers, schedules, penalties, clipping, EMA, precision, NaN guard,
early stopping, callbacks, checkpoints and exact in-process resume."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
import torch
from conftest import Toy, ToyConfig

from rlgen.checkpoint import load_checkpoint, save_checkpoint
from rlgen.config import OptimConfig, build_config
from rlgen.errors import CheckpointError, NonFiniteLossError
from rlgen.optim import LRFactor
from rlgen.tracking import Tracker
from rlgen.trainer import Callback, Trainer


def make(tmp_path, *overrides: str, sub: str = "run") -> tuple[Trainer, Toy]:
    cfg = build_config(ToyConfig, {}, list(overrides))
    trainer = Trainer(cfg, tmp_path / sub, Tracker(tmp_path / sub))
    algo = Toy(cfg, trainer)
    trainer.algorithm = algo
    return trainer, algo


def params(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trainer.models["model"].parameters()])


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adam", "adamw"])
def test_every_optimizer_learns_the_toy_regression(tmp_path, name):
    lr = {"sgd": 0.02, "rmsprop": 0.003, "adagrad": 0.05, "adam": 0.01, "adamw": 0.01}[name]
    trainer, algo = make(tmp_path, f"optim.name={name}", f"optim.lr={lr}", "steps=150")
    start = algo.evaluate()["dev/loss"]
    trainer.fit(algo)
    end = algo.evaluate()["dev/loss"]
    assert type(trainer.optimizers["main"].optimizer).__name__.lower() == name
    assert end < 0.25 * start, f"{name}: dev loss {start:.3f} -> {end:.3f}"


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam", "adamw"])
def test_fused_optimizer_kernels_do_the_same_update_as_foreach(name, monkeypatch):
    from rlgen import optim
    from rlgen.config import OptimConfig

    torch.manual_seed(0)
    cfg = OptimConfig(name=name, lr=0.01, momentum=0.9, weight_decay=0.01)
    nets = [torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    fused = optim.build_optimizer(nets[0].parameters(), cfg)
    assert fused.defaults.get("fused"), f"{name} on CPU should use the fused kernel"
    monkeypatch.setattr(optim, "_can_fuse", lambda params, name: False)
    reference = optim.build_optimizer(nets[1].parameters(), cfg)
    assert reference.defaults.get("foreach") and not reference.defaults.get("fused")
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    for _ in range(20):
        for net, opt in zip(nets, (fused, reference), strict=True):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "weight_decay"), [("adam", 0.0), ("adam", 0.01), ("adamw", 0.01)])
def test_direct_fused_adam_step_is_bitwise_torchs_step(name, weight_decay):
    """step_optimizer calls the fused kernel itself once the state exists; the update, the
    moments and the step counters are exactly those of optimizer.step(), LR changes included."""
    from rlgen.optim import build_optimizer, step_optimizer

    torch.manual_seed(0)
    cfg = OptimConfig(name=name, lr=0.01, weight_decay=weight_decay)
    nets = [torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [build_optimizer(net.parameters(), cfg) for net in nets]
    for step in range(6):
        x = torch.randn(32, 3)
        for i, (net, opt) in enumerate(zip(nets, opts, strict=True)):
            opt.zero_grad()
            (net(x) ** 2).mean().backward()
            opt.param_groups[0]["lr"] = 0.01 / (step + 1)
            step_optimizer(opt) if i == 0 else opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)
        assert all(torch.equal(opts[0].state[a][k], opts[1].state[b][k]) for k in ("exp_avg", "exp_avg_sq", "step"))


def test_ema_update_gives_torchs_averaged_model_numbers():
    """The cached-list EMA update equals AveragedModel.update_parameters bit for bit,
    batch-norm statistics and their integer counter included."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from rlgen.optim import EMAUpdate

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    ours, theirs = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True) for _ in range(2))
    update = EMAUpdate(ours, net, 0.9)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        net(torch.randn(16, 3)).pow(2).mean().backward()  # train mode: batch-norm buffers move too
        opt.step()
        update()
        theirs.update_parameters(net)
    assert int(ours.n_averaged) == int(theirs.n_averaged) == 5
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours.module[0].weight, net[0].weight)  # an average, not a copy


def _adam_run(name: str) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Parameters and optimizer state after a few steps through `step_optimizer`."""
    from rlgen.optim import build_optimizer, step_optimizer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = build_optimizer(net.parameters(), OptimConfig(name=name, lr=0.01, weight_decay=0.01))
    for step in range(5):
        opt.zero_grad()
        (net(torch.randn(32, 3)) ** 2).mean().backward()
        opt.param_groups[0]["lr"] = 0.01 / (step + 1)
        step_optimizer(opt)
    return [p.detach().clone() for p in net.parameters()], [dict(opt.state[p]) for p in net.parameters()]


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_without_the_direct_kernel_steps_the_same(name, monkeypatch):
    """With the private fused-kernel call switched off, `step_optimizer` goes through
    `optimizer.step()` and lands on the same parameters and moments bit for bit: both run
    torch's fused kernel with the same arguments, only the Python around it differs."""
    from rlgen import optim

    on = optim.has_direct_fused_adam()  # probed before the recorder below goes in
    assert on or not torch.__version__.startswith("2.13."), "the pinned torch should pass the probe"
    used = []
    direct = optim._direct_fused_adam
    monkeypatch.setattr(optim, "_direct_fused_adam", lambda opt: used.append(direct(opt)) or used[-1])
    fast = _adam_run(name)
    assert used == ([False] + [True] * 4 if on else [])  # step() creates the state, then the kernel steps
    monkeypatch.setattr(optim, "has_direct_fused_adam", lambda: False)
    monkeypatch.setattr(optim, "_direct_fused_adam", lambda opt: pytest.fail("direct kernel used while off"))
    public = _adam_run(name)
    for a, b in zip(fast[0], public[0], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(fast[1], public[1], strict=True):
        assert all(torch.equal(a[key], b[key]) for key in ("exp_avg", "exp_avg_sq", "step"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("max_norm", [0.5, float("inf")])
def test_clip_gradients_without_foreach_internals_clips_the_same(max_norm, dtype, monkeypatch):
    """The public `clip_grad_norm_` fallback gives the fast path's norm and gradients bit
    for bit (the fast path computes torch's own ops, minus its grouping)."""
    from rlgen import optim

    def clipped() -> tuple[float, list[torch.Tensor]]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).to(dtype)
        (net(torch.randn(16, 3, dtype=dtype)) ** 2).sum().backward()
        norm = optim.clip_gradients(list(net.parameters()), max_norm)
        return norm, [p.grad for p in net.parameters()]

    fast_norm, fast_grads = clipped()
    calls = []
    public = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(optim, "has_foreach_clip", lambda: False)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *a: calls.append(a) or public(*a))
    public_norm, public_grads = clipped()
    assert len(calls) == 1
    assert fast_norm == public_norm
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, public_grads, strict=True))


def test_ema_without_foreach_internals_averages_the_same(monkeypatch):
    """With the private foreach ops switched off, EMAUpdate calls `update_parameters` and
    keeps the very same average (batch-norm statistics and counter included)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from rlgen import optim

    def averaged() -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
        update = optim.EMAUpdate(ema, net, 0.9)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(4):
            opt.zero_grad()
            net(torch.randn(16, 3)).pow(2).mean().backward()
            opt.step()
            update()
        assert update.direct == optim.has_foreach_ema()  # off: every call is update_parameters
        return [t.clone() for t in ema.state_dict().values()]

    fast = averaged()
    monkeypatch.setattr(optim, "has_foreach_ema", lambda: False)
    public = averaged()
    assert all(torch.equal(a, b) for a, b in zip(fast, public, strict=True))


def test_feature_probes_say_no_when_an_internal_breaks(monkeypatch):
    """A missing or changed private op turns its fast path off instead of failing a run;
    while global optimizer hooks are registered the Adam probe stays undecided."""
    from rlgen import optim

    if torch.__version__.startswith("2.13."):
        assert optim.has_foreach_clip() and optim.has_foreach_ema() and optim.has_direct_fused_adam()

    def broken(*args, **kwargs):
        raise TypeError("unexpected keyword argument")

    with monkeypatch.context() as patch:
        patch.delattr(torch, "_foreach_norm")
        assert optim.has_foreach_clip.__wrapped__() is False
        patch.setattr(torch, "_foreach_lerp_", broken)
        assert optim.has_foreach_ema.__wrapped__() is False
        patch.setattr(torch, "_fused_adam_", broken)
        assert optim._probe_direct_fused_adam() is False
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: None)
    try:
        assert optim._probe_direct_fused_adam() is None
    finally:
        handle.remove()


def test_a_refused_fused_kernel_falls_back_to_foreach(monkeypatch):
    """A torch whose fused kernel does not cover a device (older releases) refuses it when
    the optimizer is built; build_optimizer then builds the multi-tensor one."""
    from rlgen import optim

    class OlderSGD(torch.optim.SGD):
        def __init__(self, *args, fused: bool | None = None, **kwargs) -> None:
            if fused:
                raise RuntimeError("`fused=True` requires all the params to be CUDA tensors")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", OlderSGD)
    opt = optim.build_optimizer(torch.nn.Linear(2, 1).parameters(), OptimConfig(name="sgd", lr=0.1))
    assert isinstance(opt, OlderSGD) and opt.defaults["foreach"] and not opt.defaults["fused"]


def test_optimize_with_caller_gradients_steps_like_backward(tmp_path):
    """optimize(losses, grads=...) applies given gradients (no backward pass) through the same
    clipping and schedule; with an l2 penalty, which autograd alone would add, it refuses."""
    runs = []
    for sub in ("autograd", "given"):
        trainer, algo = make(tmp_path, "optim.grad_clip=0.1", sub=sub)
        model = trainer.models["model"].eval()  # no dropout: both runs see the same function
        x = torch.randn(16, model[0].in_features, generator=torch.Generator().manual_seed(0))
        loss = model(x).pow(2).mean()
        if sub == "autograd":
            trainer.optimize({"loss": loss})
        else:
            grads = torch.autograd.grad(loss, list(model.parameters()))
            trainer.optimize({"loss": loss.detach()}, grads=list(zip(model.parameters(), grads, strict=True)))
        runs.append(params(trainer))
    torch.testing.assert_close(runs[0], runs[1])
    trainer, _ = make(tmp_path, "optim.l2=0.1", sub="l2")
    assert not trainer.takes_gradients()
    weight = next(trainer.models["model"].parameters())
    with pytest.raises(ValueError, match="penalties or fp16 loss scaling"):
        trainer.optimize({"loss": torch.zeros(())}, grads=[(weight, torch.zeros_like(weight))])


@pytest.mark.parametrize("max_norm", [0.5, 100.0, float("inf")])
def test_clip_gradients_matches_torch(max_norm):
    from rlgen.optim import clip_gradients

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(16, 3)
    for net in nets:
        (net(x) ** 2).sum().backward()
    nets[0][2].bias.grad = None  # a parameter without a gradient is skipped, as torch does
    nets[1][2].bias.grad = None
    ours = clip_gradients(list(nets[0].parameters()), max_norm)
    theirs = float(torch.nn.utils.clip_grad_norm_(list(nets[1].parameters()), max_norm))
    assert ours == pytest.approx(theirs, rel=1e-6)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        if a.grad is not None:
            assert torch.equal(a.grad, b.grad)  # bitwise: a resumed run must not drift from an unbroken one


@pytest.mark.parametrize(
    ("schedule", "checks"),
    [
        ("constant", {0: 1.0, 500: 1.0}),
        ("linear", {0: 1.0, 500: 0.55, 1000: 0.1, 2000: 0.1}),
        ("exponential", {0: 1.0, 100: 0.5, 200: 0.25}),
        ("inverse_time", {0: 1.0, 100: 0.5, 300: 0.25}),
        ("step", {0: 1.0, 99: 1.0, 100: 0.5, 250: 0.25}),
        ("cosine", {0: 1.0, 500: 0.55, 1000: 0.1}),
    ],
)
def test_schedule_factors(schedule, checks):
    cfg = OptimConfig(schedule=schedule, gamma=0.5, decay_steps=100, step_size=100, decay_rate=1.0, min_lr_ratio=0.1)
    factor = LRFactor(cfg, total_steps=1000)
    for step, expected in checks.items():
        assert factor(step) == pytest.approx(expected, rel=1e-6), (schedule, step)


def test_linear_warmup_then_schedule_drives_the_optimizer_lr(tmp_path):
    trainer, algo = make(tmp_path, "optim.warmup_steps=10", "optim.schedule=cosine", "steps=30", "optim.lr=0.1")
    seen = []

    class Watch(Callback):
        def on_step_end(self, trainer, metrics):
            seen.append(metrics["train/lr"])

    trainer.callbacks.append(Watch())
    trainer.fit(algo)
    assert seen[0] == pytest.approx(0.01)  # the lr used by step 1: 1/10 of the peak
    assert seen[9] == pytest.approx(0.1)  # warm-up over at step 10
    assert seen[-1] < 0.01  # cosine reaches ~0 at the end
    assert all(b <= a + 1e-12 for a, b in zip(seen[9:], seen[10:], strict=False))


def test_l1_l2_penalties_and_weight_decay_shrink_weights(tmp_path):
    plain, algo = make(tmp_path, "steps=80", sub="plain")
    plain.fit(algo)
    penal, algo2 = make(tmp_path, "steps=80", "optim.l1=0.1", "optim.l2=0.1", sub="pen")
    penal.fit(algo2)
    assert "train/l1_penalty" in penal.tracker.latest and "train/l2_penalty" in penal.tracker.latest
    w = lambda t: sum(p.abs().sum() for p in t.models["model"].parameters() if p.dim() > 1)  # noqa: E731
    assert w(penal) < 0.8 * w(plain)
    decayed, algo3 = make(tmp_path, "steps=80", "optim.name=adamw", "optim.weight_decay=5.0", sub="wd")
    decayed.fit(algo3)
    assert w(decayed) < 0.8 * w(plain)


def test_gradient_clipping_caps_the_update(tmp_path):
    trainer, algo = make(
        tmp_path, "optim.name=sgd", "optim.momentum=0", "optim.lr=1.0", "optim.grad_clip=0.5", "steps=1"
    )
    before = params(trainer)
    trainer.fit(algo)
    # With plain SGD at lr 1, the update's norm equals the clipped gradient norm.
    assert (params(trainer) - before).norm() == pytest.approx(0.5, rel=1e-4)
    assert trainer.tracker.latest["train/grad_norm"] > 0.5  # the logged norm is before clipping


def test_ema_follows_the_model_slowly(tmp_path):
    trainer, algo = make(tmp_path, "trainer.ema_decay=0.9", "steps=40")
    trainer.fit(algo)
    ema = trainer.emas["model"]
    ema_params = torch.cat([p.flatten() for p in ema.module.parameters()])
    assert not torch.allclose(ema_params, params(trainer))
    assert int(ema.n_averaged) == 40


def test_nan_guard_stops_naming_the_step_and_term(tmp_path):
    trainer, algo = make(tmp_path, "nan_at_step=7", "steps=20")
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(algo)
    message = str(err.value)
    assert "step 7" in message and "'mse'" in message
    assert "learning rate" in message and "nan_policy=skip" in message


def test_nan_guard_skip_mode_skips_one_step_and_continues(tmp_path):
    trainer, algo = make(tmp_path, "nan_at_step=7", "steps=20", "trainer.nan_policy=skip")
    trainer.fit(algo)
    assert trainer.step == 20
    assert trainer.skipped_steps == 1
    assert all(torch.isfinite(p).all() for p in trainer.models["model"].parameters())


def test_bf16_autocast_runs_on_cpu(tmp_path):
    trainer, algo = make(tmp_path, "trainer.precision=bf16", "steps=30")
    assert trainer.amp_dtype is torch.bfloat16
    with trainer.autocast():
        out = trainer.models["model"](torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    trainer.fit(algo)
    assert math.isfinite(algo.evaluate()["dev/loss"])


def test_fp16_uses_a_grad_scaler(tmp_path):
    trainer, algo = make(tmp_path, "trainer.precision=fp16", "steps=20")
    assert trainer.optimizers["main"].scaler is not None
    trainer.fit(algo)
    assert "scaler" in load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["optimizers"]["main"]


def test_early_stopping_on_a_dev_metric(tmp_path):
    # lr 0 after warm-up never improves dev loss: stops after `patience` evaluations.
    trainer, algo = make(
        tmp_path,
        "optim.name=sgd",
        "optim.lr=1e-9",
        "steps=500",
        "trainer.eval_every=5",
        "trainer.early_stop_patience=3",
        "trainer.early_stop_min_delta=1.0",
    )
    trainer.fit(algo)
    assert trainer.step == 20  # evals at 5 (best), 10, 15, 20 -> 3 without improvement
    assert "early stopping" in trainer.tracker.summary["status"]
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()


def test_callbacks_see_every_event_and_can_stop(tmp_path):
    events = []

    class Recorder(Callback):
        def on_train_start(self, trainer):
            events.append("start")

        def on_step_end(self, trainer, metrics):
            events.append("step")
            if trainer.step == 12:
                trainer.should_stop = True

        def on_eval_end(self, trainer, metrics):
            events.append("eval")

        def on_checkpoint(self, trainer, path):
            events.append(path.name)

        def on_train_end(self, trainer):
            events.append("end")

    trainer, algo = make(tmp_path, "steps=100")
    trainer.callbacks.append(Recorder())
    trainer.fit(algo)
    assert events[0] == "start" and events[-1] == "end"
    assert events.count("step") == 12
    assert "eval" in events and "best.pt" in events and "last.pt" in events
    assert trainer.tracker.summary["status"] == "stopped: stopped by a callback"


def test_resume_in_process_is_exact(tmp_path):
    full, algo = make(tmp_path, "steps=60", "trainer.ema_decay=0.5", "optim.schedule=cosine", sub="full")
    full.fit(algo)
    part, algo2 = make(tmp_path, "steps=60", "trainer.ema_decay=0.5", "optim.schedule=cosine", sub="part")
    part.fit(algo2, steps=40)
    resumed, algo3 = make(tmp_path, "steps=60", "trainer.ema_decay=0.5", "optim.schedule=cosine", sub="part")
    torch.manual_seed(999)  # the checkpoint's RNG state must win over whatever came before
    resumed.load(tmp_path / "part" / "checkpoints" / "last.pt")
    assert resumed.step == 40
    resumed.fit(algo3)
    assert torch.equal(params(full), params(resumed))
    ema_a = torch.cat([p.flatten() for p in full.emas["model"].parameters()])
    ema_b = torch.cat([p.flatten() for p in resumed.emas["model"].parameters()])
    assert torch.equal(ema_a, ema_b)


def test_corrupted_and_truncated_checkpoints_give_clear_errors(tmp_path):
    trainer, algo = make(tmp_path, "steps=20")
    trainer.fit(algo)
    good = tmp_path / "run" / "checkpoints" / "last.pt"
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 10)
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError) as err:
            trainer.load(path)
        assert "truncated or corrupted" in str(err.value) and str(path) in str(err.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not an rlgen checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpoint_from_a_different_model_is_refused(tmp_path):
    trainer, algo = make(tmp_path, "steps=10")
    trainer.fit(algo)
    wider, _ = make(tmp_path, "steps=10", "hidden=32", sub="wider")
    with pytest.raises(CheckpointError, match="does not fit this run's models"):
        wider.load(tmp_path / "run" / "checkpoints" / "last.pt")


def test_a_failed_write_never_replaces_a_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    good = path.read_bytes()

    def dying_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    assert load_checkpoint(path)["step"] == 1


def test_same_seed_reproduces_the_same_numbers(tmp_path):
    a, algo_a = make(tmp_path, "steps=30", "seed=3", sub="a")
    a.fit(algo_a)
    b, algo_b = make(tmp_path, "steps=30", "seed=3", sub="b")
    b.fit(algo_b)
    c, algo_c = make(tmp_path, "steps=30", "seed=4", sub="c")
    c.fit(algo_c)
    assert torch.equal(params(a), params(b))
    assert not torch.equal(params(a), params(c))


class TwoNets(Toy):
    """Two models with their own optimizers and schedules, stepped alternately (GAN-style)."""

    def __init__(self, config, trainer) -> None:
        super().__init__(config, trainer)
        self.critic = trainer.add_model("critic", torch.nn.Linear(4, 1))
        trainer.add_optimizer(
            "critic", ["critic"], OptimConfig(name="sgd", lr=0.05, schedule="step", step_size=5, gamma=0.5)
        )

    def train_step(self):
        metrics = super().train_step()
        idx = torch.randint(0, len(self.x), (16,))
        loss = ((self.critic(self.x[idx]).squeeze(-1) - self.y[idx]) ** 2).mean()
        metrics.update(self.trainer.optimize({"critic_mse": loss}, optimizer="critic"))
        return metrics


def test_several_optimizers_step_and_resume_independently(tmp_path):
    def build(sub):
        cfg = build_config(ToyConfig, {}, ["steps=30"])
        trainer = Trainer(cfg, tmp_path / sub, Tracker(tmp_path / sub))
        trainer.algorithm = TwoNets(cfg, trainer)
        return trainer

    full = build("full")
    full.fit(full.algorithm)
    assert full.tracker.latest["train/lr_critic"] == pytest.approx(0.05 * 0.5**5)
    part = build("part")
    part.fit(part.algorithm, steps=20)
    resumed = build("part")
    resumed.load(tmp_path / "part" / "checkpoints" / "last.pt")
    resumed.fit(resumed.algorithm)
    for name in ("model", "critic"):
        a = torch.cat([p.flatten() for p in full.models[name].parameters()])
        b = torch.cat([p.flatten() for p in resumed.models[name].parameters()])
        assert torch.equal(a, b), name


def test_progress_bar_shows_rate_and_eta(tmp_path):
    import io

    from rich.console import Console

    trainer, algo = make(tmp_path, "steps=40", "trainer.progress=on")
    buffer = io.StringIO()
    trainer.tracker.console = Console(file=buffer, force_terminal=True, width=160)
    trainer.fit(algo)
    text = buffer.getvalue()
    assert "40/40" in text and "steps/s" in text and "0:00:00" in text  # count, rate, elapsed/ETA


def test_denormals_flush_while_training_and_come_back_after(tmp_path):
    tiny = torch.tensor([1e-39])  # a denormal in fp32

    class Probe(Callback):
        def __init__(self) -> None:
            self.seen: list[float] = []

        def on_step_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
            self.seen.append(float(tiny * 1.0))

    def train(*overrides: str) -> list[float]:
        trainer, algo = make(tmp_path, "steps=3", *overrides, sub=f"run{len(overrides)}")
        probe = Probe()
        trainer.callbacks = [probe]
        trainer.fit(algo)
        return probe.seen

    flushing = train()
    can_flush = torch.set_flush_denormal(True)
    torch.set_flush_denormal(False)
    assert flushing == ([0.0] * 3 if can_flush else [pytest.approx(1e-39)] * 3)
    assert float(tiny * 1.0) == pytest.approx(1e-39), "torch's default (keep denormals) must be back after training"
    assert train("trainer.flush_denormal=false") == [pytest.approx(1e-39)] * 3


class SlowToy(Toy):
    """Toy with a step, an evaluation and a final report that each take known time."""

    name = "slowtoy"

    def train_step(self) -> dict[str, float]:
        time.sleep(0.2)
        return super().train_step()

    def evaluate(self) -> dict[str, float]:
        time.sleep(0.4)
        return super().evaluate()

    def report(self, **options: Any) -> dict[str, Any]:
        time.sleep(0.4)
        return super().evaluate()


def test_a_time_budget_ends_the_run_on_time_final_report_included(tmp_path, monkeypatch):
    """--minutes covers training, the periodic evaluations, the evaluation that ends the run
    and the final report: the run stops early enough for all of them to fit."""
    from rlgen.registry import ALGOS
    from rlgen.run import train

    monkeypatch.setitem(ALGOS, "slowtoy", SlowToy)
    budget_s = 4.0
    config = build_config(
        ToyConfig, {}, ["steps=1000", f"minutes={budget_s / 60}", "trainer.eval_every=3", "trainer.final_report=true"]
    )
    run = train("slowtoy", config, tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"].startswith("stopped: time budget") and 5 <= summary["step"] < 1000
    assert summary["elapsed_s"] + summary["report_s"] <= budget_s + 0.25


class BesideToy(Toy):
    """Toy whose evaluations run 'beside training': each is asked for at its step, on a
    copy of that step's weights, and ends `LAG` steps later."""

    name = "besidetoy"
    LAG = 3

    def __init__(self, config: ToyConfig, trainer) -> None:
        super().__init__(config, trainer)
        self.asked: list[tuple[int, torch.nn.Module]] = []

    def submit_evaluation(self) -> bool:
        import copy

        self.asked.append((self.trainer.step, copy.deepcopy(self.model)))
        return True

    @torch.no_grad()
    def finished_evaluations(self, wait: bool = False) -> list[tuple[int, dict[str, float], float]]:
        done = []
        while self.asked and (wait or self.asked[0][0] + self.LAG <= self.trainer.step):
            step, model = self.asked.pop(0)
            model.eval()
            done.append((step, {"dev/loss": float(((model(self.x).squeeze(-1) - self.y) ** 2).mean())}, 0.01))
        return done


def test_evaluations_beside_training_are_logged_late_and_best_pt_holds_the_evaluated_weights(tmp_path):
    """An algorithm that evaluates beside training: its metrics are logged when they arrive
    (with the step of the weights they judged), best.pt is the checkpoint of that step, the
    evaluation waiting at the end is collected, and training is what it is without them."""
    overrides = ["steps=40", "trainer.eval_every=5", "trainer.checkpoint_every=1", "trainer.log_every=1"]
    cfg = build_config(ToyConfig, {}, overrides)
    trainer = Trainer(cfg, tmp_path / "beside", Tracker(tmp_path / "beside"))
    algo = BesideToy(cfg, trainer)
    trainer.fit(algo)
    reference, ref_algo = make(tmp_path, *overrides, sub="reference")
    reference.fit(ref_algo)
    assert torch.equal(params(trainer), params(reference))
    lines = [json.loads(line) for line in (tmp_path / "beside" / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "dev/loss" in line]
    ref_lines = (tmp_path / "reference" / "metrics.jsonl").read_text().splitlines()
    ref_evals = {line["step"]: line["dev/loss"] for line in map(json.loads, ref_lines) if "dev/loss" in line}
    assert [int(e["eval/weights_step"]) for e in evals] == sorted(ref_evals) == list(range(5, 41, 5))
    for e in evals:
        assert e["dev/loss"] == ref_evals[int(e["eval/weights_step"])]  # the same weights judged
        assert e["step"] == min(e["eval/weights_step"] + BesideToy.LAG, 40)  # ... when the verdict came
    summary = json.loads((tmp_path / "beside" / "summary.json").read_text())
    best = load_checkpoint(tmp_path / "beside" / "checkpoints" / "best.pt")
    assert best["step"] == summary["best/step"] and summary["best/value"] == min(ref_evals.values())
    net = ref_algo.model
    net.load_state_dict(best["models"]["model"])
    net.eval()
    with torch.no_grad():
        assert float(((net(ref_algo.x).squeeze(-1) - ref_algo.y) ** 2).mean()) == summary["best/value"]
    assert sorted(p.name for p in (tmp_path / "beside" / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
