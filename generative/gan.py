"""GAN and conditional GAN: a DCGAN-style generator against a strided-conv discriminator.

    rlgen train gan  --data mnist5k|animal|shapes|digits
    rlgen train cgan --data mnist5k                        # class labels
    rlgen train cgan --data shapes                         # captions ("a small red circle ...")
    rlgen train cgan --data shapes --set condition=attributes

`--steps` counts generator steps; each comes after `n_critic` discriminator steps. The
generator upsamples a base grid (7x7 for 28-pixel images, 4x4 for 8/32/64) by 2x
transposed convs with batch norm; the discriminator mirrors it with stride-2 convs under
spectral norm. With a condition, the generator's batch norms take their gain and bias
from the condition embedding (conditional batch norm) and the discriminator is a
projection discriminator: D(x, c) = w . phi(x) + <V e(c), phi(x)>. Labels, attribute
rows and captions all reach the networks through `ConditionEncoder`s (one in G, one in D).
With `readout_weight` > 0, D also reads the condition back from real images (an
auxiliary classifier, as in AC-GAN) and G is trained so that D reads the requested
condition from its fakes (off by default: on `shapes` captions it did not beat the
projection alone in 10-minute runs).
An EMA of the generator is what samples, grids and metrics use.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from rlgen.config import OptimConfig, TrainerConfig
from rlgen.errors import ConfigError, unknown_name
from rlgen.nets import _scale_plan

from .base import GenerativeAlgorithm, GenerativeConfig
from .conditions import ConditionEncoder, ConditionSpec, drop_factors, readout_loss, readout_size

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

LOSSES = ("nonsaturating", "hinge", "wgan-gp")
AUGMENTS = ("translation", "cutout")

# ----------------------------------------------------------------------------- config


def _adam(lr: float) -> dict[str, Any]:
    return {"name": "adam", "lr": lr, "betas": [0.5, 0.999]}


@dataclass
class GANConfig(GenerativeConfig):
    """Unconditional GAN. `--steps` counts generator steps (each after n_critic D steps)."""

    steps: int = 20_000
    """Generator steps."""
    batch_size: int = 64
    """Real (and fake) images per discriminator step."""
    latent_dim: int = 64
    """Size of the Gaussian noise vector z."""
    g_channels: int = 64
    """Generator channels one 2x step before the output; doubled per step towards the base grid."""
    d_channels: int = 32
    """Discriminator channels after its first stride-2 conv; doubled per step down to the base grid."""
    max_channels: int = 256
    """Cap on the channels of any layer (64x64 images have 4 scale steps)."""
    g_conditioning: Literal["cbn", "concat"] = "cbn"
    """How a condition enters the generator: conditional batch norm, or concatenated to z."""
    loss: Literal["nonsaturating", "hinge", "wgan-gp"] = "nonsaturating"
    """Adversarial loss: nonsaturating (the original GAN's -log D trick), hinge, or wgan-gp."""
    gp_weight: float = 10.0
    """Gradient-penalty weight (wgan-gp only)."""
    spectral_norm: bool = True
    """Spectral normalization of every discriminator layer."""
    n_critic: int = 1
    """Discriminator steps per generator step."""
    optim_g: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=5e-4, betas=(0.5, 0.999)))
    """Generator optimizer."""
    optim_d: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=5e-4, betas=(0.5, 0.999)))
    """Discriminator optimizer (its own learning rate: two time-scale updates when they differ)."""
    ema_decay: float = 0.995
    """Decay of the generator's moving average used for sampling (0 = sample the raw generator);
    0.995 suits runs of a few thousand steps, 0.999 longer ones."""
    embed_dim: int = 128
    """Condition embedding size (conditional models)."""
    text_encoder: Literal["pool", "gru"] = "pool"
    """Caption encoder: a bag of words (summed word embeddings; quick to learn) or a GRU
    (when word order matters)."""
    readout_weight: float = 0.0
    """Auxiliary-classifier term (as in AC-GAN): D also reads the condition back from real
    images (the class, each attribute, the words of a caption) and G is trained so that D
    reads the requested condition from its fakes. 0 = off (projection alone)."""
    attribute_drop: float = 0.3
    """Probability that an attribute factor is hidden ('any value') in a training condition,
    so partial conditions such as 'shape=circle' work (attribute conditions only)."""
    augment: str = ""
    """Differentiable augmentation of D's inputs, real and fake alike: '', 'translation',
    'cutout' or 'translation,cutout' (helps on small datasets)."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=50, eval_every=1000, checkpoint_every=500)
    )
    """Trainer plumbing (eval every 1,000 generator steps, checkpoint every 500)."""

    # Tuned starting points by dataset (10-minute CPU runs); a preset sits under the user's
    # config file and --set values. Optimizer sections are given whole: a partial one
    # would fall back to OptimConfig's own defaults for the rest.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "mnist5k": {"optim_g": _adam(1e-3), "optim_d": _adam(1e-3), "augment": "translation"},
        # A narrower generator takes ~1.5x the steps per second; shape accuracy is what
        # the shapes runs are short of, and it tracks steps more than width.
        "shapes": {"g_channels": 32, "optim_g": _adam(1e-3), "optim_d": _adam(1e-3)},
    }

    @classmethod
    def preset(cls, data: str) -> dict[str, Any]:
        """Tuned defaults for a dataset, by name ('shapes:n=500' uses the shapes preset)."""
        return copy.deepcopy(cls.PRESETS.get(data.split(":", 1)[0], {}))

    def __post_init__(self) -> None:
        for key in ("latent_dim", "g_channels", "d_channels", "max_channels", "n_critic", "embed_dim", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.loss not in LOSSES:
            raise unknown_name("GAN loss", self.loss, list(LOSSES))
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if not 0.0 <= self.attribute_drop < 1.0:
            raise ConfigError(f"attribute_drop must be in [0, 1), got {self.attribute_drop}")
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight must be >= 0, got {self.gp_weight}")
        if self.readout_weight < 0:
            raise ConfigError(f"readout_weight must be >= 0 (0 = off), got {self.readout_weight}")
        for name in augment_policy(self.augment):
            if name not in AUGMENTS:
                raise unknown_name("augmentation", name, list(AUGMENTS))


@dataclass
class CGANConfig(GANConfig):
    """Conditional GAN: condition auto = captions where the data has them, else labels."""

    condition: str = "auto"
    """label, attributes, caption, or auto (caption on shapes, label on mnist5k / animal)."""


def augment_policy(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# ----------------------------------------------------------------------------- model


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if on else layer


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias come from a condition embedding (plain BN without one)."""

    def __init__(self, channels: int, embed_dim: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=embed_dim == 0)
        self.gain = nn.Linear(embed_dim, channels) if embed_dim else None
        self.bias = nn.Linear(embed_dim, channels) if embed_dim else None
        if self.gain is not None:
            # Start as plain BN (gain 1, bias 0) so the condition is learned, not noise.
            for layer in (self.gain, self.bias):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = self.bn(x)
        if self.gain is None or embedding is None:
            return x
        gain = 1 + self.gain(embedding)
        return x * gain[:, :, None, None] + self.bias(embedding)[:, :, None, None]


@contextmanager
def _without_onednn() -> Iterator[None]:
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


class _NativeConvTranspose(torch.autograd.Function):
    """A stride-2, padding-1 transposed conv whose forward and backward both skip oneDNN."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        with _without_onednn():
            return F.conv_transpose2d(x, weight, bias, stride=2, padding=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, weight = ctx.saved_tensors
        with _without_onednn():
            return torch.ops.aten.convolution_backward(
                grad.contiguous(),
                x,
                weight,
                [weight.shape[1]],
                [2, 2],
                [1, 1],
                [1, 1],
                True,
                [0, 0],
                1,
                [True, True, True],
            )


@functools.cache
def native_conv_backward_works() -> bool:
    """Whether this torch's `aten.convolution_backward` (an internal op, with no promise
    across releases) takes the arguments `_NativeConvTranspose` gives it and returns the
    public layer's gradients; checked once on a tiny layer, so another torch build falls
    back to `nn.ConvTranspose2d` instead of failing."""
    try:
        generator = torch.Generator().manual_seed(0)
        # its own generator: the probe must not move the global RNG a run draws from
        x, weight, bias = (
            torch.randn(shape, generator=generator).requires_grad_() for shape in ((2, 3, 4, 4), (3, 2, 4, 4), (2,))
        )
        public = F.conv_transpose2d(x, weight, bias, stride=2, padding=1)
        expected = torch.autograd.grad(public.square().sum(), [x, weight, bias])
        got = torch.autograd.grad(_NativeConvTranspose.apply(x, weight, bias).square().sum(), [x, weight, bias])
        return all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(got, expected, strict=True))
    except Exception:  # any failure of the internal op means: use the public layer
        return False


class ToImage(nn.ConvTranspose2d):
    """The generator's last 2x transposed conv, to image channels. On CPU (fp32) it runs on
    the native kernels: oneDNN is 5-20x slower for so few output channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or torch.is_autocast_enabled("cpu") or x.dtype != torch.float32:
            return super().forward(x)
        if not native_conv_backward_works():
            return super().forward(x)
        return _NativeConvTranspose.apply(x, self.weight, self.bias)


def plan_channels(image_size: int, width: int, cap: int) -> tuple[int, list[int]]:
    """(base grid size, channels at each scale from the base grid up to one step before the
    image): width doubles per step away from the image, capped."""
    base, steps = _scale_plan(image_size)
    return base, [min(width * 2 ** (steps - 1 - i), cap) for i in range(steps)]


class GANGenerator(nn.Module):
    """z (+ condition) -> image in [-1, 1]: linear to the base grid, then 2x transposed convs."""

    def __init__(self, spec: ConditionSpec, image_shape: tuple[int, int, int], cfg: GANConfig) -> None:
        super().__init__()
        channels, size, _ = image_shape
        self.base, widths = plan_channels(size, cfg.g_channels, cfg.max_channels)
        self.encoder = ConditionEncoder(spec, cfg.embed_dim, cfg.text_encoder) if spec.kind != "none" else None
        self.concat = self.encoder is not None and cfg.g_conditioning == "concat"
        cbn_dim = cfg.embed_dim if self.encoder is not None and not self.concat else 0
        in_dim = cfg.latent_dim + (cfg.embed_dim if self.concat else 0)
        self.fc = nn.Linear(in_dim, widths[0] * self.base * self.base)
        self.norms = nn.ModuleList([ConditionalBatchNorm(widths[0], cbn_dim)])
        self.ups = nn.ModuleList()
        for i, width in enumerate(widths):
            last = i == len(widths) - 1
            out = channels if last else widths[i + 1]
            self.ups.append(ToImage(width, out) if last else nn.ConvTranspose2d(width, out, 4, 2, 1, bias=False))
            if not last:
                self.norms.append(ConditionalBatchNorm(out, cbn_dim))
        self.width0 = widths[0]

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        embedding = self.encoder(condition) if self.encoder is not None and condition is not None else None
        if self.concat:
            z = torch.cat([z, embedding], dim=1)
            embedding = None
        x = self.fc(z).view(len(z), self.width0, self.base, self.base)
        for i, up in enumerate(self.ups):
            x = up(F.relu(self.norms[i](x, embedding)))
        return torch.tanh(x)


class GANDiscriminator(nn.Module):
    """Image in [-1, 1] (+ condition) -> realness score: stride-2 convs to the base grid,
    then w . phi(x), plus <V e(c), phi(x)> with a condition (projection discriminator)."""

    def __init__(self, spec: ConditionSpec, image_shape: tuple[int, int, int], cfg: GANConfig) -> None:
        super().__init__()
        channels, size, _ = image_shape
        base, widths = plan_channels(size, cfg.d_channels, cfg.max_channels)
        widths = widths[::-1]  # D narrows towards the image, so its first layer is the thinnest
        sn = cfg.spectral_norm
        layers: list[nn.Module] = []
        previous = channels
        for width in widths:
            layers += [_sn(nn.Conv2d(previous, width, 4, stride=2, padding=1), sn), nn.LeakyReLU(0.2)]
            previous = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        features = previous * base * base
        self.out = _sn(nn.Linear(features, 1), sn)
        self.encoder = ConditionEncoder(spec, cfg.embed_dim, cfg.text_encoder) if spec.kind != "none" else None
        self.project = _sn(nn.Linear(cfg.embed_dim, features, bias=False), sn) if self.encoder is not None else None
        # Not spectrally normalized: a classifier needs logits larger than a critic's scores.
        reads = self.encoder is not None and cfg.readout_weight > 0
        self.readout = nn.Linear(features, readout_size(spec)) if reads else None

    def embed(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """V e(c), the condition's direction in feature space (None without a condition)."""
        if self.encoder is None or condition is None:
            return None
        return self.project(self.encoder(condition))

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, embedding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores [N]; pass `embedding` (from `embed`) to reuse one for several image batches."""
        return self.score_and_readout(x, condition, embedding)[0]

    def score_and_readout(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, embedding: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scores [N] and the condition read back from the images (None without a readout head)."""
        phi = self.body(x)
        score = self.out(phi).squeeze(1)
        embedding = self.embed(condition) if embedding is None else embedding
        if embedding is not None:
            score = score + (embedding * phi).sum(1)
        return score, None if self.readout is None else self.readout(phi)


def diff_augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020): random translation by up to 1/8 of the size (zero
    fill) and a random cutout of half the size; differentiable, so G learns through it."""
    n, _, h, w = x.shape
    if "translation" in policy:
        sy, sx = max(1, h // 8), max(1, w // 8)
        dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
        dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
        rows = torch.arange(h, device=x.device).view(1, h, 1) + dy
        cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
        padded = F.pad(x, (1, 1, 1, 1))
        rows = rows.clamp(-1, h) + 1  # out of range -> the zero border
        cols = cols.clamp(-1, w) + 1
        batch = torch.arange(n, device=x.device).view(n, 1, 1)
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if "cutout" in policy:
        ch, cw = h // 2, w // 2
        top = torch.randint(0, h + 1 - ch % 2, (n, 1, 1), device=x.device) - ch // 2
        left = torch.randint(0, w + 1 - cw % 2, (n, 1, 1), device=x.device) - cw // 2
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        hole = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
        x = x * (~hole).unsqueeze(1).to(x.dtype)
    return x


# ----------------------------------------------------------------------------- loss


def discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss from its scores on real and fake images (without the gradient penalty)."""
    if loss == "nonsaturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return fake.mean() - real.mean()


def generator_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """G's loss from D's scores on its images."""
    if loss == "nonsaturating":
        return F.softplus(-fake).mean()
    return -fake.mean()


def gradient_penalty(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor | None
) -> torch.Tensor:
    """WGAN-GP: (|grad_x D(x_hat)| - 1)^2 on random interpolates of real and fake images."""
    eps = torch.rand(len(real), 1, 1, 1, device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = discriminator(mixed, condition)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def d_accuracy(loss: str, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
    """How often D tells real from fake: score sign for the classifier losses; for the
    Wasserstein critic (unbounded scores) the midpoint of the two batches' mean scores."""
    threshold = 0.0 if loss != "wgan-gp" else float((real.mean() + fake.mean()) / 2)
    return float((real > threshold).float().mean()), float((fake < threshold).float().mean())


# ----------------------------------------------------------------------------- glue


class GAN(GenerativeAlgorithm):
    name = "gan"
    Config = GANConfig
    unit = "generator steps"
    description = "DCGAN-style GAN (hinge / non-saturating / WGAN-GP, spectral norm, EMA generator)"

    def __init__(self, config: GANConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        self.config: GANConfig = config
        if self.spec.kind == "image":
            raise ConfigError(f"'{self.name}' does not translate images; use pix2pix for condition='image'")
        channels, height, width = self.image_shape
        if height != width:
            raise ConfigError(f"'{self.name}' needs square images, got {height}x{width} in '{config.data}'")
        _scale_plan(height)  # unsupported sizes fail here, listing the supported ones
        self.latent_dim = config.latent_dim
        self.policy = augment_policy(config.augment)
        self.generator = trainer.add_model("generator", GANGenerator(self.spec, self.image_shape, config))
        self.discriminator = trainer.add_model("discriminator", GANDiscriminator(self.spec, self.image_shape, config))
        trainer.add_optimizer("g", ["generator"], config.optim_g)
        trainer.add_optimizer("d", ["discriminator"], config.optim_d, total_steps=config.steps * config.n_critic)
        if config.ema_decay > 0:
            trainer.add_ema("generator", config.ema_decay)
        # Every training condition once, on the device: no per-step caption tokenizing.
        train = self.splits.train
        every = self.spec.batch(train, torch.arange(len(train)))
        self.train_c = None if every is None else every.to(trainer.device)

    # -- data

    def batch(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Real images in [-1, 1], their conditions as G and D see them (attributes partly
        hidden) and their whole conditions (what the readout learns from real images)."""
        index = self.batches.next_index().to(self.trainer.device)
        x = self.train_x[index] * 2 - 1
        if self.train_c is None:
            return x, None, None
        whole = self.train_c[index]
        condition = drop_factors(whole, self.config.attribute_drop) if self.spec.kind == "attributes" else whole
        return x, condition, whole

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    # -- one generator step

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        started = time.perf_counter()
        self.generator.train()
        self.discriminator.train()
        metrics: dict[str, float] = {}
        for _ in range(cfg.n_critic):
            real, condition, whole = self.batch()
            z = torch.randn(len(real), cfg.latent_dim, device=real.device)
            with self.trainer.autocast():
                # The last critic step's fakes keep their graph: the generator step reuses them.
                fake = self.generator(z, condition)
                embedding = self.discriminator.embed(condition)  # once for real and fake
                real_score, real_read = self.discriminator.score_and_readout(self.d_input(real), embedding=embedding)
                fake_score = self.discriminator(self.d_input(fake.detach()), embedding=embedding).float()
            real_score = real_score.float()
            losses = {"d": discriminator_loss(cfg.loss, real_score, fake_score)}
            if real_read is not None:  # learned from real images only, so D never learns to read G's mistakes
                losses["readout"] = cfg.readout_weight * readout_loss(self.spec, real_read, whole)
            if cfg.loss == "wgan-gp":
                losses["gp"] = cfg.gp_weight * gradient_penalty(
                    self.discriminator, real, fake.detach().float(), condition
                )
            metrics.update(self.trainer.optimize(losses, optimizer="d"))
        with self.trainer.autocast():
            with torch.no_grad():  # G's loss needs no gradient for D's condition embedding
                embedding = self.discriminator.embed(condition)
            g_score, fake_read = self.discriminator.score_and_readout(self.d_input(fake), embedding=embedding)
        g_loss = generator_loss(cfg.loss, g_score.float())
        g_terms = {"g": g_loss}
        if fake_read is not None:
            g_terms["readout"] = cfg.readout_weight * readout_loss(self.spec, fake_read, condition)
        metrics.update(self.trainer.optimize(g_terms, optimizer="g"))
        real_acc, fake_acc = d_accuracy(cfg.loss, real_score.detach(), fake_score.detach())
        metrics.update(
            {
                "losses/d": float(losses["d"].detach()),
                "losses/g": float(g_loss.detach()),
                "charts/d_real_accuracy": real_acc,
                "charts/d_fake_accuracy": fake_acc,
                "charts/d_real_score": float(real_score.detach().mean()),
                "charts/d_fake_score": float(fake_score.detach().mean()),
                "charts/images_per_second": cfg.n_critic * len(real) / (time.perf_counter() - started),
            }
        )
        if "gp" in losses:
            metrics["losses/gp"] = float(losses["gp"].detach()) / max(cfg.gp_weight, 1e-12)
        if "readout" in losses:
            metrics["losses/readout_real"] = float(losses["readout"].detach()) / cfg.readout_weight
            metrics["losses/readout_fake"] = float(g_terms["readout"].detach()) / cfg.readout_weight
        return metrics

    # -- sampling

    def sampler(self) -> nn.Module:
        """The generator that samples: its moving average where kept."""
        ema = self.trainer.emas.get("generator")
        return ema.module if ema is not None else self.generator

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        generator = self.sampler()
        was_training = generator.training
        generator.eval()
        try:
            return (generator(z, condition) + 1) / 2
        finally:
            generator.train(was_training)


class CGAN(GAN):
    name = "cgan"
    Config = CGANConfig
    conditional = True
    description = "conditional GAN on labels, attributes or captions (conditional BN + projection D)"
