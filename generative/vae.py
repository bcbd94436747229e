"""Variational autoencoders: `vae`, and `cvae` conditioned on a label, attributes or a caption.

A convolutional encoder gives q(z | x[, c]) = N(mu, diag(sigma^2)); a decoder gives
p(x | z[, c]), Bernoulli logits or a Gaussian mean with a learned global or per-pixel
scale. Training maximizes the ELBO

    log p(x) >= E_q[log p(x | z)] - beta * KL(q(z | x) || N(0, I))

with beta warmed up linearly from 0 and optional free bits. Evaluation reports the
negative ELBO and the importance-weighted bound (Burda et al., 2016)

    log p(x) >= E[log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)],   z_i ~ q(z | x),

in nats per image; it tightens as k grows (k = 1000 in the final report). On
grayscale data the default is a Bernoulli likelihood on dynamically binarized
training batches, with the dev and test sets binarized once with a fixed seed, so the
figures compare with the binarized-MNIST literature.

    rlgen train vae --data mnist5k --minutes 10
    rlgen train cvae --data mnist5k            # label condition: one grid row per digit
    rlgen train cvae --data shapes             # attribute condition: "shape=circle,colour=red"
    rlgen sample RUN --condition 7 --n 16 --out sevens.png
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from rlgen.config import OptimConfig, TrainerConfig
from rlgen.errors import ConfigError
from rlgen.nets import ConvEncoder, _scale_plan, activation

from .base import GenerativeAlgorithm, GenerativeConfig, make_grid
from .conditions import ConditionEncoder, ConditionSpec, drop_factors

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

LOG_2PI = math.log(2 * math.pi)
MIN_LOG_SCALE = math.log(1 / 256)
"""Smallest Gaussian pixel scale: one 8-bit level (keeps the density of dequantized data bounded)."""
IW_PIXEL_BUDGET = 2**24
"""Most decoded pixel values held at once by the importance-weighted estimate (64 MB per float32 tensor)."""
EVAL_SEED = 4321
"""Noise seed of evaluations, so dev figures at different steps share their noise."""

# ----------------------------------------------------------------------------- config


@dataclass
class VAEConfig(GenerativeConfig):
    """Variational autoencoder. `--steps` counts optimizer steps."""

    steps: int = 20000
    """Optimizer steps (a --minutes budget often ends training first; best.pt keeps the best dev ELBO)."""
    latent_dim: int = 16
    """Size of the latent z (more dimensions fit the data a little better but leave more of the
    prior unused: worse samples)."""
    encoder_channels: int = 16
    """Channels of the encoder's first conv, doubled at each stride-2 conv (up to 256)."""
    encoder_hidden: int = 256
    """Width of the encoder's feature vector before the posterior head."""
    decoder_channels: int = 16
    """Channels of the decoder's finest hidden grid (half the image size), doubled at each coarser grid (up to 256)."""
    activation: str = "leaky_relu"
    """relu, leaky_relu, tanh, sigmoid, gelu, elu, silu."""
    norm: str = "none"
    """Encoder normalization: none, batch, layer or spectral (the decoder has none)."""
    condition_dim: int = 32
    """Size of the condition embedding fed to both encoder and decoder (cvae)."""
    factor_dropout: float = 0.25
    """Attribute conditions: chance of hiding each factor ('any value') in a training batch, so
    partial conditions work."""
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    """p(x | z): bernoulli (logits per pixel; on colour data a cross-entropy, not a density) or
    gaussian (mean per pixel, learned scale, bits/dim)."""
    gaussian_scale: Literal["global", "pixel"] = "global"
    """Gaussian likelihood: one learned scale for all pixels, or one per pixel and channel."""
    binarize: Literal["auto", "none", "dynamic", "static"] = "auto"
    """Bernoulli data: dynamic (resample each training batch), static (binarize once), none;
    auto = dynamic for grayscale bernoulli."""
    beta: float = 1.0
    """Weight of the KL term (beta-VAE; 1 = the ELBO)."""
    beta_warmup: int = 2000
    """Optimizer steps over which the KL weight rises linearly from 0 to beta (0 = off)."""
    free_bits: float = 0.0
    """Free bits: nats per latent dimension (batch average) below which the KL is not penalized (0 = off)."""
    iw_samples: int = 1000
    """k of the importance-weighted test NLL in the final report (`rlgen eval`)."""
    eval_iw_samples: int = 10
    """k of the importance-weighted dev NLL at each periodic evaluation (0 = dev ELBO only)."""
    iw_batch: int = 10000
    """Most decoder passes at once in the importance-weighted bound (fewer for large images: bounds the memory)."""
    eval_samples: int = 0
    """Generated images for reference-classifier metrics at each periodic evaluation (0 = grids and dev ELBO only)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3))
    """Optimizer of encoder and decoder."""
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(eval_every=500, checkpoint_every=500))
    """Trainer plumbing (trainer.ema_decay > 0 keeps an EMA of the model for sampling and evaluation)."""

    def __post_init__(self) -> None:
        for key in (
            "latent_dim",
            "encoder_channels",
            "encoder_hidden",
            "decoder_channels",
            "condition_dim",
            "iw_samples",
            "iw_batch",
            "batch_size",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("beta", "beta_warmup", "free_bits", "eval_iw_samples"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.factor_dropout < 1.0:
            raise ConfigError(f"factor_dropout must be in [0, 1), got {self.factor_dropout}")
        if self.likelihood == "gaussian" and self.binarize in ("dynamic", "static"):
            raise ConfigError(
                f"binarize={self.binarize} makes binary data for a bernoulli likelihood; "
                "use likelihood=bernoulli, or binarize=none with likelihood=gaussian"
            )


@dataclass
class CVAEConfig(VAEConfig):
    """Conditional VAE: the condition is fed to encoder and decoder. `--steps` counts optimizer steps."""

    condition: str = "auto"
    """label, attributes or caption; auto = attributes when the data has them (shapes), else label."""


# ----------------------------------------------------------------------------- model


class Decoder(nn.Module):
    """Vector [N, in_dim] -> image parameters [N, C, S, S]: a linear map to the coarsest
    grid, then 2x transposed convolutions, the last one straight to the output channels.

    Ending without a full-resolution hidden layer keeps decoding cheap, which matters
    for the importance-weighted bound (k decoder passes per test image).
    """

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], channels: int, act: str) -> None:
        super().__init__()
        out_ch, height, width = image_shape
        if height != width:
            raise ConfigError(f"the VAE decoder needs square images, got {height}x{width}")
        base, steps = _scale_plan(height)
        widths = [min(channels * 2 ** (steps - 1 - i), 256) for i in range(steps)]  # coarse -> fine
        self.grid = (widths[0], base, base)
        self.stem = nn.Sequential(nn.Linear(in_dim, widths[0] * base * base), activation(act))
        layers: list[nn.Module] = []
        for i, ch in enumerate(widths):
            last = i == steps - 1
            layers.append(nn.ConvTranspose2d(ch, out_ch if last else widths[i + 1], 4, stride=2, padding=1))
            if not last:
                layers.append(activation(act))
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(h).view(len(h), *self.grid))


class VAEModel(nn.Module):
    """Encoder, decoder, likelihood and (cvae) condition encoder in one module.

    `forward(x, condition)` returns the training terms: log p(x | z) per image for one
    reparameterized z, and the KL per image and latent dimension.
    """

    def __init__(self, cfg: VAEConfig, image_shape: tuple[int, int, int], spec: ConditionSpec, likelihood: str) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.likelihood = likelihood
        self.condition = ConditionEncoder(spec, cfg.condition_dim) if spec.kind != "none" else None
        cond_dim = cfg.condition_dim if self.condition is not None else 0
        self.encoder = ConvEncoder(
            image_shape, cfg.encoder_hidden, cfg.encoder_channels, act=cfg.activation, norm=cfg.norm
        )
        self.encoder_act = activation(cfg.activation)
        self.posterior = nn.Linear(cfg.encoder_hidden + cond_dim, 2 * cfg.latent_dim)
        self.decoder = Decoder(cfg.latent_dim + cond_dim, image_shape, cfg.decoder_channels, cfg.activation)
        if likelihood == "gaussian":
            scale_shape = (1, 1, 1) if cfg.gaussian_scale == "global" else image_shape
            self.log_scale = nn.Parameter(torch.full(scale_shape, math.log(0.1)))

    def embed(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        if self.condition is None:
            return None
        if condition is None:
            raise ConfigError("this conditional VAE needs a condition for every image")
        return self.condition(condition)

    def encode(self, x: torch.Tensor, emb: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance [N, latent_dim]."""
        h = self.encoder_act(self.encoder(x))
        if emb is not None:
            h = torch.cat([h, emb], dim=1)
        mu, logvar = self.posterior(h).float().chunk(2, dim=1)
        return mu, logvar.clamp(-16.0, 8.0)  # exp() of a runaway log-variance would overflow

    def decode_params(self, z: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        """Bernoulli logits or Gaussian means [N, C, H, W]."""
        if emb is not None:
            z = torch.cat([z, emb.to(z.dtype)], dim=1)
        return self.decoder(z).float()

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per image, summed over pixels and channels."""
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(1).sum(1)
        log_scale = self.log_scale.clamp(min=MIN_LOG_SCALE)
        density = -0.5 * ((x - params) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * LOG_2PI
        return density.flatten(1).sum(1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The likelihood's mean as images in [0, 1]."""
        return torch.sigmoid(params) if self.likelihood == "bernoulli" else params.clamp(0, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(condition)
        mu, logvar = self.encode(x, emb)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        log_px = self.log_likelihood(x, self.decode_params(z, emb))
        return log_px, gaussian_kl(mu, logvar)


# ----------------------------------------------------------------------------- loss and bounds


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, [N, D]."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_weight(step: int, beta: float, warmup: int) -> float:
    """Linear warm-up of the KL weight from 0 (at step 0) to beta (at step `warmup`)."""
    return beta if warmup <= 0 else beta * min(1.0, step / warmup)


def vae_loss(log_px: torch.Tensor, kl: torch.Tensor, beta: float, free_bits: float = 0.0) -> dict[str, torch.Tensor]:
    """Batch-mean loss terms: reconstruction -log p(x|z) and beta * KL (with free bits per
    dimension: a dimension whose batch-average KL is under `free_bits` nats costs nothing
    more, so the encoder is not pushed to switch it off)."""
    kl_dims = kl.mean(0)
    kl_term = kl_dims.clamp(min=free_bits).sum() if free_bits > 0 else kl_dims.sum()
    return {"recon": -log_px.mean(), "kl": beta * kl_term}


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log(mean(exp(values))) along `dim`, stable for values of any magnitude."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


@torch.no_grad()
def importance_weighted_nll(
    model: VAEModel,
    x: torch.Tensor,
    condition: torch.Tensor | None,
    k: int,
    batch: int = 10000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """-log p(x) per image estimated with k importance samples from q(z | x) (the IWAE
    bound, an upper bound on the NLL that tightens as k grows; k = 1 is the negative
    ELBO with a sampled KL). At most `batch` decoder passes run at once."""
    if k < 1:
        raise ConfigError(f"importance sampling needs k >= 1 samples, got {k}")
    device = x.device
    images = max(1, batch // k)
    per_pass = min(k, batch)
    out = []
    for start in range(0, len(x), images):
        xb = x[start : start + images]
        cb = None if condition is None else condition[start : start + images]
        emb = model.embed(cb)
        mu, logvar = model.encode(xb, emb)
        std = torch.exp(0.5 * logvar)
        weights = []
        for done in range(0, k, per_pass):
            n = min(per_pass, k - done)
            eps = torch.randn(n, *mu.shape, generator=generator).to(device)
            z = mu + eps * std  # [n, b, D]
            flat_emb = None if emb is None else emb.repeat(n, 1)
            params = model.decode_params(z.flatten(0, 1), flat_emb)
            log_px = model.log_likelihood(xb.repeat(n, 1, 1, 1), params).view(n, len(xb))
            log_pz = -0.5 * (z.pow(2).sum(-1) + mu.shape[1] * LOG_2PI)
            log_qz = -0.5 * (eps.pow(2).sum(-1) + logvar.sum(-1) + mu.shape[1] * LOG_2PI)
            weights.append(log_px + log_pz - log_qz)
        out.append(-log_mean_exp(torch.cat(weights), dim=0))
    return torch.cat(out)


# ----------------------------------------------------------------------------- glue


class VAE(GenerativeAlgorithm):
    """Convolutional VAE with a Bernoulli or Gaussian likelihood; dev ELBO picks best.pt."""

    name = "vae"
    Config = VAEConfig
    description = "variational autoencoder (ELBO, importance-weighted test NLL, latent interpolation)"
    default_monitor = "dev/nll_elbo"

    def __init__(self, config: VAEConfig, trainer: Trainer) -> None:
        if config.condition == "image":
            raise ConfigError(
                f"{self.name} does not take image conditions (vae: none; cvae: label, attributes or caption); "
                "image-to-image translation is pix2pix"
            )
        super().__init__(config, trainer)
        self.config: VAEConfig = config
        if self.conditional and config.condition == "auto" and self.splits.train.attributes is not None:
            # A cvae on data with attribute factors conditions on them (captions are the cgan's).
            self.spec = ConditionSpec.from_dataset(self.splits.train, "attributes")
        self.latent_dim = config.latent_dim
        channels = self.image_shape[0]
        self.likelihood = config.likelihood
        binary = self.likelihood == "bernoulli" and channels == 1  # binarized colour would be a different image
        self.binarize = config.binarize if config.binarize != "auto" else ("dynamic" if binary else "none")
        if self.binarize == "static":
            self.train_x = self.fixed_view(self.train_x, offset=0)
        # The dev and test sets are prepared once with fixed seeds: every run and every
        # evaluation scores the same binary (or dequantized) images.
        self.dev_x = self.fixed_view(self.splits.dev.x.to(trainer.device), offset=1)
        self.test_x = self.fixed_view(self.splits.test.x.to(trainer.device), offset=2)
        self.net = VAEModel(config, self.image_shape, self.spec, self.likelihood)
        self.model = trainer.add_model("vae", self.net)  # the same module, or its torch.compile wrapper
        trainer.add_optimizer("main", ["vae"], config.optim)
        if trainer.tcfg.ema_decay > 0:
            trainer.add_ema("vae")
        self.pixels = math.prod(self.image_shape)

    # -- data

    def fixed_view(self, x: torch.Tensor, offset: int) -> torch.Tensor:
        """Binarized (or dequantized) once with a seed fixed by the split seed."""
        generator = torch.Generator().manual_seed(self.config.split_seed * 1000 + offset)
        noise = torch.rand(x.shape, generator=generator).to(x.device)
        if self.binarize != "none":
            return (noise < x).float()
        return self.dequantize(x, noise)

    def dequantize(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Gaussian likelihood: spread each 8-bit level over its bin, so the density of the
        data cannot grow without bound; Bernoulli on continuous data: unchanged."""
        return x if self.likelihood == "bernoulli" else (x * 255.0 + noise) / 256.0

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A training batch: freshly binarized (dynamic) or dequantized."""
        if self.binarize == "dynamic":
            return torch.bernoulli(x)
        if self.binarize == "static":
            return x
        return self.dequantize(x, torch.rand_like(x))

    def eval_conditions(self, split: str) -> torch.Tensor | None:
        data = getattr(self.splits, split)
        condition = self.spec.batch(data, torch.arange(len(data)))
        return None if condition is None else condition.to(self.trainer.device)

    # -- training

    def train_step(self) -> dict[str, float]:
        x, condition = self.next_batch()
        x = self.prepare(x)
        if self.spec.kind == "attributes" and self.config.factor_dropout > 0:
            condition = drop_factors(condition, self.config.factor_dropout)
        beta = kl_weight(self.trainer.step, self.config.beta, self.config.beta_warmup)
        self.model.train()
        with self.trainer.autocast():
            log_px, kl = self.model(x, condition)
        losses = vae_loss(log_px, kl, beta, self.config.free_bits)
        metrics = self.trainer.optimize(losses)
        recon, kl_sum = float(losses["recon"].detach()), float(kl.detach().sum(1).mean())
        metrics.update(
            {
                "losses/recon": recon,
                "losses/kl": kl_sum,
                "losses/nll_elbo": recon + kl_sum,
                "charts/beta": beta,
            }
        )
        return metrics

    # -- sampling

    def eval_model(self) -> VAEModel:
        """The EMA model when one is kept, else the trained one; in eval mode."""
        model = self.trainer.emas["vae"].module if "vae" in self.trainer.emas else self.net
        return model.eval()

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        model = self.eval_model()
        return model.mean(model.decode_params(z, model.embed(condition)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """Decoded posterior means of images x."""
        model = self.eval_model()
        emb = model.embed(condition)
        return model.mean(model.decode_params(model.encode(x, emb)[0], emb))

    # -- evaluation

    @torch.no_grad()
    def elbo_metrics(self, split: str, x: torch.Tensor, condition: torch.Tensor | None) -> dict[str, float]:
        """Negative ELBO (analytic KL, one z per image), its parts and bits/dim, in nats per image."""
        model = self.eval_model()
        generator = torch.Generator().manual_seed(EVAL_SEED)
        log_px, kl, mus = [], [], []
        for start in range(0, len(x), 500):
            xb = x[start : start + 500]
            emb = model.embed(None if condition is None else condition[start : start + 500])
            with self.trainer.autocast():
                mu, logvar = model.encode(xb, emb)
                z = mu + torch.randn(mu.shape, generator=generator).to(mu.device) * torch.exp(0.5 * logvar)
                log_px.append(model.log_likelihood(xb, model.decode_params(z, emb)))
            kl.append(gaussian_kl(mu, logvar).sum(1))
            mus.append(mu)
        recon, kl_mean = -float(torch.cat(log_px).mean()), float(torch.cat(kl).mean())
        # Active units (Burda et al.): latent dimensions whose posterior mean varies with x.
        active = int((torch.cat(mus).var(0) > 0.01).sum()) if len(x) > 1 else 0
        nll = recon + kl_mean
        return {
            f"{split}/nll_elbo": nll,
            f"{split}/recon": recon,
            f"{split}/kl": kl_mean,
            f"{split}/bpd_elbo": self.bits_per_dim(nll),
            f"{split}/active_units": float(active),
        }

    def bits_per_dim(self, nll: float) -> float:
        """Nats per image -> bits per pixel and channel (Gaussian: of the 8-bit images, whose
        bins have width 1/256)."""
        if self.likelihood == "gaussian":
            nll += self.pixels * math.log(256)
        return nll / (self.pixels * math.log(2))

    def iw_nll(self, x: torch.Tensor, condition: torch.Tensor | None, k: int) -> float:
        """Mean importance-weighted NLL (nats per image) with k samples per image."""
        generator = torch.Generator().manual_seed(EVAL_SEED)
        batch = min(self.config.iw_batch, max(1, IW_PIXEL_BUDGET // self.pixels))
        with self.trainer.autocast():
            return float(importance_weighted_nll(self.eval_model(), x, condition, k, batch, generator).mean())

    def log_interpolation(self) -> None:
        images = self.interpolate(steps=self.config.grid_columns, rows=4)
        self.trainer.tracker.log_image(
            "samples/interpolation",
            make_grid(images, self.config.grid_columns),
            self.trainer.step,
            "rows: great-circle paths between two latents",
        )

    def log_reconstructions(self) -> None:
        n = self.config.grid_columns * 2
        condition = self.eval_conditions("test")
        recon = self.reconstruct(self.test_x[:n], None if condition is None else condition[:n]).float().cpu()
        self.trainer.tracker.log_image(
            "samples/reconstruction",
            make_grid(torch.cat([self.test_x[:n].cpu(), recon]), self.config.grid_columns),
            self.trainer.step,
            "top two rows: test images; bottom two: their reconstructions",
        )

    def evaluate(self) -> dict[str, float]:
        metrics = self.elbo_metrics("dev", self.dev_x, self.eval_conditions("dev"))
        if self.config.eval_iw_samples > 0:
            metrics["dev/nll_iw"] = self.iw_nll(self.dev_x, self.eval_conditions("dev"), self.config.eval_iw_samples)
        self.log_interpolation()
        metrics.update(super().evaluate())  # sample grid (+ reference metrics with eval_samples > 0)
        return metrics

    def report(self, **options: Any) -> dict[str, Any]:
        """Test ELBO, importance-weighted test NLL (k = iw_samples), grids and the
        reference-classifier metrics."""
        condition = self.eval_conditions("test")
        results: dict[str, Any] = {"likelihood": self.likelihood, "binarize": self.binarize}
        results.update(self.elbo_metrics("test", self.test_x, condition))
        nll = self.iw_nll(self.test_x, condition, self.config.iw_samples)
        results.update(
            {"test/nll_iw": nll, "test/bpd_iw": self.bits_per_dim(nll), "test/iw_samples": self.config.iw_samples}
        )
        self.log_interpolation()
        self.log_reconstructions()
        results.update(super().report())
        return results


class CVAE(VAE):
    """Conditional VAE: a learned condition embedding joins the encoder's features and the decoder's input."""

    name = "cvae"
    Config = CVAEConfig
    description = "conditional VAE on labels, attributes or captions"
    conditional = True
