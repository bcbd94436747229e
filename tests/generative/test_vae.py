"""VAE and conditional VAE: a step trains, every condition kind samples, exact resume after
SIGKILL, load_generator / `rlgen sample` / `rlgen eval`, clear errors, the
importance-weighted bound against an exact 1-D answer, and a learning floor on mnist5k."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import REPO, RLGEN, assert_same_state
from PIL import Image

from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config
from rlgen.errors import ConfigError, RlgenError
from rlgen.generative import load_generator
from rlgen.generative.vae import (
    CVAE,
    VAE,
    CVAEConfig,
    VAEConfig,
    gaussian_kl,
    importance_weighted_nll,
    kl_weight,
    log_mean_exp,
    vae_loss,
)
from rlgen.run import train
from rlgen.trainer import Trainer

TINY = [
    "latent_dim=4",
    "encoder_channels=4",
    "encoder_hidden=16",
    "decoder_channels=4",
    "condition_dim=8",
    "batch_size=16",
    "iw_samples=8",
    "grid_columns=4",
    "beta_warmup=10",
    "metrics=false",
    "wandb.mode=disabled",
    "trainer.progress=off",
    "trainer.log_every=1",
    "trainer.eval_every=5",
    "trainer.checkpoint_every=5",
]


def tiny(cls: type = VAEConfig, *extra: str) -> VAEConfig:
    return build_config(cls, {}, ["data=digits", *TINY, *extra])


def build(tmp_path, cls: type = VAE, *extra: str) -> VAE:
    trainer = Trainer(tiny(cls.Config, *extra), tmp_path)
    return cls(trainer.config, trainer)


def test_a_step_trains_and_the_loss_falls_on_a_fixed_batch(tmp_path):
    algo = build(tmp_path, VAE, "optim.lr=1e-2")
    assert algo.likelihood == "bernoulli" and algo.binarize == "dynamic"
    assert set(algo.dev_x.unique().tolist()) == {0.0, 1.0}  # dev set binarized once
    before = {k: v.clone() for k, v in algo.model.state_dict().items()}
    metrics = algo.train_step()
    assert all(not torch.equal(v, before[k]) for k, v in algo.model.state_dict().items())
    for key in ("losses/recon", "losses/kl", "losses/nll_elbo", "charts/beta", "train/grad_norm"):
        assert np.isfinite(metrics[key]), key
    x = torch.bernoulli(algo.train_x[:16], generator=torch.Generator().manual_seed(0))
    first = None
    for _ in range(60):
        log_px, kl = algo.model(x, None)
        loss = -log_px.mean() + kl.sum(1).mean()
        first = first if first is not None else float(loss.detach())
        algo.trainer.optimize({"loss": loss})
    assert float(loss.detach()) < 0.7 * first


@pytest.mark.parametrize(
    ("cls", "data", "extra", "kind", "condition"),
    [
        (VAE, "digits", [], "none", None),
        (CVAE, "digits", [], "label", "7"),
        (CVAE, "shapes:n=60", [], "attributes", "shape=circle,colour=red"),
        (CVAE, "shapes:n=60", ["condition=caption"], "caption", None),
        (VAE, "shapes:n=60", ["likelihood=gaussian", "gaussian_scale=pixel"], "none", None),
    ],
)
def test_every_condition_kind_trains_and_samples(tmp_path, cls, data, extra, kind, condition):
    algo = build(tmp_path, cls, f"data={data}", *extra)
    assert algo.spec.kind == kind
    metrics = algo.train_step()
    assert np.isfinite(metrics["losses/nll_elbo"])
    if kind == "caption":
        condition = algo.splits.test.captions[0]
    images = algo.sample(3, condition)
    assert images.shape == (3, *algo.image_shape) and images.min() >= 0.0 and images.max() <= 1.0
    grid, names = algo.grid()
    assert len(grid) == 4 * len(names)
    results = algo.report()
    assert np.isfinite(results["test/nll_iw"]) and results["test/nll_iw"] <= results["test/nll_elbo"] + 5.0
    if algo.image_shape[0] == 3:  # colour is never binarized
        assert algo.binarize == "none"
    if algo.likelihood == "gaussian":  # dequantized once: each pixel moved within its 8-bit bin
        shift = algo.dev_x.cpu() - algo.splits.dev.x
        assert shift.abs().max() < 1 / 255 and shift.std() > 0 and algo.dev_x.min() >= 0 and algo.dev_x.max() < 1
        assert np.isfinite(results["test/bpd_iw"])
    assert list((tmp_path / "media").glob("samples_reconstruction_*.png"))


def test_sigkill_then_resume_is_exact_including_ema(tmp_path):
    """Kill -9 mid-training, `rlgen resume`: the same weights, EMA and optimizer as a run never stopped."""
    steps = 300
    extra = ["trainer.ema_decay=0.9", "trainer.eval_every=100", "trainer.checkpoint_every=25"]
    whole = train("vae", tiny(VAEConfig, f"steps={steps}", *extra), tmp_path / "whole")
    killed = tmp_path / "killed"
    args = ["train", "vae", "--data", "digits", "--steps", str(steps), "--wandb", "disabled", "--run-dir", str(killed)]
    for item in [*TINY, *extra]:
        if not item.startswith("wandb."):
            args += ["--set", item]
    proc = subprocess.Popen([*RLGEN, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (killed / "checkpoints" / "last.pt").exists():
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "checkpoints" / "last.pt")["step"] < steps
    assert main(["resume", str(killed)]) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == steps
    for section in ("models", "emas", "optimizers"):
        assert_same_state(a[section], b[section], section)
    logged = [
        json.loads(line)["step"]
        for line in (killed / "metrics.jsonl").read_text().splitlines()
        if "losses/recon" in line
    ]
    assert logged == list(range(1, steps + 1))


def test_generator_sampling_cli_and_eval(tmp_path, capsys):
    run = train("cvae", tiny(CVAEConfig, "steps=20", "iw_samples=20"), tmp_path / "cvae")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best/metric"] == "dev/nll_elbo" and (run / "checkpoints" / "best.pt").exists()
    assert summary["test/nll_iw"] <= summary["test/nll_elbo"] + 2.0
    generator = load_generator(run)
    assert generator.condition_kind == "label"
    sevens = generator.sample(5, condition="7", seed=3)
    assert sevens.shape == (5, 1, 8, 8) and sevens.min() >= 0 and sevens.max() <= 1
    assert torch.equal(sevens, generator.sample(5, condition="7", seed=3))
    with pytest.raises(ConfigError, match="accepts a class name or index: 0, 1, 2"):
        generator.sample(2, condition="11")
    assert generator.interpolate(steps=4, rows=2, condition="3").shape == (8, 1, 8, 8)

    out = tmp_path / "grid.png"
    assert main(["sample", str(run), "--condition", "3", "--n", "8", "--columns", "4", "--out", str(out)]) == 0
    assert Image.open(out).size == (4 * 9 + 1, 2 * 9 + 1)
    assert main(["sample", str(run), "--out", str(tmp_path / "rows.png")]) == 0  # one row per class
    assert "rows: 0; 1; 2" in capsys.readouterr().out
    assert main(["sample", str(run), "--condition", "seven", "--out", str(tmp_path / "bad.png")]) == 2
    assert "unknown condition 'seven'" in capsys.readouterr().err

    assert main(["eval", str(run)]) == 0
    results = json.loads((run / "eval.json").read_text())
    assert results["test/iw_samples"] == 20 and results["likelihood"] == "bernoulli"
    assert np.isfinite(results["test/nll_iw"]) and results["test/active_units"] >= 0

    vae = train("vae", tiny(VAEConfig, "steps=2"), tmp_path / "vae")
    with pytest.raises(ConfigError, match="unconditional"):
        load_generator(vae).sample(2, condition="7")


@pytest.mark.parametrize(
    ("cls", "overrides", "message"),
    [
        (VAEConfig, ["likelihood=gaussian", "binarize=dynamic"], "binarize=dynamic makes binary data"),
        (VAEConfig, ["latent_dim=0"], "latent_dim must be >= 1"),
        (VAEConfig, ["likelihood=poisson"], "choices: bernoulli, gaussian"),
        (VAEConfig, ["factor_dropout=1.0"], "factor_dropout must be in"),
    ],
)
def test_bad_configs_are_clear_errors(cls, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config(cls, {}, overrides)


@pytest.mark.parametrize(
    ("cls", "extra", "message"),
    [
        (VAE, ["condition=label"], "unconditional; use the conditional variant"),
        (CVAE, ["condition=none"], "is conditional"),
        (CVAE, ["condition=image"], "image-to-image translation is pix2pix"),
        (CVAE, ["condition=attributes"], "has no attributes"),
    ],
)
def test_bad_conditions_are_clear_errors(tmp_path, cls, extra, message):
    with pytest.raises(RlgenError, match=message):
        build(tmp_path, cls, *extra)


def test_log_mean_exp_is_exact_at_any_magnitude():
    for offset in (-1e5, 0.0, 1e5):
        values = torch.tensor([[offset, offset + math.log(3.0)], [offset, offset]], dtype=torch.float64)
        assert torch.allclose(
            log_mean_exp(values, dim=1), torch.tensor([offset + math.log(2.0), offset], dtype=torch.float64)
        )
    assert torch.isfinite(log_mean_exp(torch.tensor([-1e30, 0.0]))).all()


def test_kl_warmup_and_free_bits():
    assert [kl_weight(step, 2.0, 100) for step in (0, 50, 100, 500)] == [0.0, 1.0, 2.0, 2.0]
    assert kl_weight(0, 0.5, 0) == 0.5
    kl = torch.tensor([[0.1, 2.0], [0.3, 4.0]], requires_grad=True)  # dimension 0 averages 0.2 nats, under 0.5
    terms = vae_loss(torch.tensor([-10.0, -20.0]), kl, beta=1.0, free_bits=0.5)
    assert float(terms["recon"]) == 15.0 and float(terms["kl"].detach()) == 0.5 + 3.0
    terms["kl"].backward()
    assert kl.grad[:, 0].eq(0).all() and kl.grad[:, 1].gt(0).all()  # no pressure on a dimension within its free bits


def exact_1d(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-log p(x) and the negative ELBO of a 1-D latent model by quadrature on a fine grid."""
    z = torch.linspace(-12, 12, 6001).unsqueeze(1)
    dz = float(z[1] - z[0])
    log_prior = -0.5 * (z.squeeze(1) ** 2 + math.log(2 * math.pi))
    params = model.decode_params(z, None)
    mu, logvar = model.encode(x, None)
    nll, neg_elbo = [], []
    for i in range(len(x)):
        log_px_z = model.log_likelihood(x[i : i + 1].expand(len(z), -1, -1, -1), params)
        nll.append(-(torch.logsumexp(log_px_z + log_prior, 0) + math.log(dz)))
        q = torch.exp(-0.5 * ((z.squeeze(1) - mu[i]) ** 2 / logvar[i].exp() + logvar[i] + math.log(2 * math.pi)))
        neg_elbo.append(-(q * log_px_z).sum() * dz + gaussian_kl(mu[i], logvar[i]).sum())
    return torch.stack(nll), torch.stack(neg_elbo)


def test_importance_weighted_bound_against_an_exact_1d_likelihood(tmp_path):
    """With one latent dimension log p(x) is a 1-D integral: the IW estimate must approach it
    from above as k grows, and k = 1 must average to the negative ELBO."""
    torch.manual_seed(0)
    algo = build(tmp_path, VAE, "latent_dim=1", "beta_warmup=0", "optim.lr=3e-3")
    for _ in range(150):
        algo.train_step()
    with torch.no_grad():
        model = algo.eval_model()
        x = algo.test_x[:24]
        nll, neg_elbo = exact_1d(model, x)
        assert float((neg_elbo - nll).mean()) > 0.05  # the posterior is not exact: the bound has room to tighten
        gen = torch.Generator().manual_seed(0)
        means = {}
        for k, repeats in ((1, 400), (10, 100), (100, 10), (3000, 1)):
            draws = importance_weighted_nll(model, x.repeat(repeats, 1, 1, 1), None, k, batch=6000, generator=gen)
            means[k] = float(draws.mean())
            if k == 1:  # the k = 1 estimate is unbiased for the negative ELBO
                assert abs(means[1] - float(neg_elbo.mean())) < 4 * float(draws.std()) / math.sqrt(len(draws))
        print(means, float(nll.mean()), float(neg_elbo.mean()))
        assert means[1] > means[10] > means[100] >= means[3000] - 0.01
        assert -0.01 < means[3000] - float(nll.mean()) < 0.05
        # Chunking the k samples into passes of 37 changes memory use, not the estimate.
        chunked = importance_weighted_nll(model, x.repeat(10, 1, 1, 1), None, 100, batch=37, generator=gen)
        assert abs(float(chunked.mean()) - means[100]) < 0.05


@pytest.mark.slow
def test_vae_learns_binarized_mnist5k(tmp_path):
    """Default config, 1,500 steps (about a minute): importance-weighted test NLL far under
    the ~200 nats of a model that ignores its latent (the 10-minute floor is 110, k = 1000)."""
    cfg = build_config(
        VAEConfig,
        {},
        [
            "data=mnist5k",
            "steps=1500",
            "iw_samples=100",
            "metrics=false",
            "wandb.mode=disabled",
            "trainer.progress=off",
        ],
    )
    run = train("vae", cfg, tmp_path / "vae")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 1500 and summary["test/iw_samples"] == 100
    assert summary["test/nll_iw"] < 120.0
    assert summary["test/nll_iw"] < summary["test/nll_elbo"]
    assert summary["dev/nll_iw"] < summary["dev/nll_elbo"]
