"""pix2pix: paired image-to-image translation with a U-Net generator and a PatchGAN critic.

Tasks on datasets that carry what they need (`shapes` carries both):
- colorize: input = the image's luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), target = the RGB image;
- outline: input = `extras["outline"]` (the drawn outline), target = the filled image.

The generator is trained on `l1_weight * |G(x) - y|_1` plus a GAN loss from a PatchGAN
discriminator that judges (input, image) pairs patch by patch (Isola et al., 2017).
`--steps` counts generator steps (each with one discriminator step before it).

    rlgen train pix2pix --data shapes --set task=colorize
    rlgen sample RUN --condition-image gray.png --n 8 --out colored.png
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from rlgen.config import OptimConfig, TrainerConfig
from rlgen.data import ImageDataset
from rlgen.errors import ConfigError
from rlgen.nets import count_parameters

from .base import GenerativeAlgorithm, GenerativeConfig, make_grid
from .conditions import load_condition_image

if TYPE_CHECKING:
    from rlgen.trainer import Trainer

LUMA = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights (what Pillow's convert('L') uses), so a colour photo given
to `rlgen sample --condition-image` is grayscaled the way training inputs were."""

# ----------------------------------------------------------------------------- config


@dataclass
class Pix2PixConfig(GenerativeConfig):
    """Paired image-to-image translation. `--steps` counts generator steps."""

    data: str = "shapes"
    """Dataset with colour images (colorize) or outline extras (outline), e.g. shapes, shapes64."""
    condition: str = "image"
    """Always 'image': the model is conditioned on its input image."""
    task: Literal["colorize", "outline"] = "colorize"
    """colorize: grayscale -> colour; outline: the shape's outline -> the filled image."""
    steps: int = 1000
    """Generator steps (about 5 minutes on 2 busy CPU cores for 32x32 shapes)."""
    batch_size: int = 32
    """Image pairs per step."""
    channels: int = 32
    """Generator width at the first level; doubles per level up to max_channels."""
    max_channels: int = 256
    """Widest generator level."""
    depth: int = 0
    """U-Net levels (stride-2 convs); 0 = from the image size, down to a 2x2 bottleneck (32 -> 4, 64 -> 5)."""
    input_frequencies: int = 6
    """Sinusoids of the input intensities fed to the generator, at 2^k pi for k < this (0 = raw input only)."""
    g_norm: Literal["batch", "group", "none"] = "batch"
    """Generator normalization (group: 8 groups, no train/eval difference)."""
    noise: Literal["dropout", "none"] = "none"
    """dropout: pix2pix's noise, dropout also at sampling time (z seeds it); none: deterministic."""
    dropout: float = 0.5
    """Dropout rate of the noise layers."""
    dropout_levels: int = 3
    """Innermost decoder levels with dropout noise (pix2pix: 3)."""
    d_channels: int = 32
    """Discriminator width at the first layer; doubles per stride-2 layer."""
    d_layers: int = 0
    """Discriminator stride-2 layers; 0 = from the image size (32 -> 2, 64 -> 3: 6x6 patch logits)."""
    d_norm: Literal["batch", "instance", "spectral", "none"] = "batch"
    """Discriminator normalization; spectral = spectral norm on every conv."""
    gan_loss: Literal["nonsaturating", "lsgan", "hinge"] = "nonsaturating"
    """Adversarial loss on the patch logits."""
    gan_weight: float = 1.0
    """Weight of the generator's adversarial term (0 = plain L1 regression, no discriminator step)."""
    l1_weight: float = 100.0
    """Weight of the L1 term (pix2pix: 100)."""
    ema_decay: float = 0.99
    """EMA of the generator used for sampling and metrics (0 = off)."""
    g_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, betas=(0.5, 0.999)))
    """Generator optimizer."""
    d_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, betas=(0.5, 0.999)))
    """Discriminator optimizer."""
    eval_samples: int = 500
    """Dev pairs for the periodic L1/PSNR (0 = grids only)."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(log_every=20, eval_every=200, checkpoint_every=200)
    )
    """Trainer plumbing (monitor defaults to dev/psnr)."""

    def __post_init__(self) -> None:
        if self.condition != "image":
            raise ConfigError(
                f"pix2pix is conditioned on its input image: condition must be 'image', not '{self.condition}'"
            )
        for key in ("batch_size", "channels", "max_channels", "d_channels"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("depth", "d_layers", "dropout_levels", "input_frequencies"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0 (0 = automatic), got {getattr(self, key)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.l1_weight < 0 or self.gan_weight < 0:
            raise ConfigError(f"l1_weight and gan_weight must be >= 0, got {self.l1_weight} and {self.gan_weight}")
        if self.l1_weight == 0 and self.gan_weight == 0:
            raise ConfigError("l1_weight and gan_weight are both 0: the generator would learn nothing")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")


# ----------------------------------------------------------------------------- data


def luma(images: torch.Tensor) -> torch.Tensor:
    """RGB [N, 3, H, W] -> grayscale [N, 1, H, W] with the ITU-R 601 weights."""
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def task_inputs(data: ImageDataset, task: str) -> torch.Tensor:
    """The input images of a task for every image of `data`, or a clear error."""
    if task == "colorize":
        if data.x.shape[1] != 3:
            raise ConfigError(
                f"task 'colorize' needs colour (3-channel) images; '{data.name}' has {data.x.shape[1]}-channel "
                "images. Use a colour dataset such as shapes, or task=outline"
            )
        return luma(data.x)
    if "outline" not in data.extras:
        raise ConfigError(
            f"task 'outline' needs outline images (extras['outline']) in the dataset; '{data.name}' has "
            f"{'only ' + ', '.join(data.extras) if data.extras else 'none'}. Use shapes / shapes64, or task=colorize"
        )
    outline = data.extras["outline"].float()
    if outline.dim() == 3:
        outline = outline.unsqueeze(1)
    if outline.dim() != 4 or outline.shape[2:] != data.x.shape[2:]:
        raise ConfigError(
            f"extras['outline'] of '{data.name}' must be [N, C, H, W] with the images' size "
            f"{tuple(data.x.shape[2:])}, got {tuple(data.extras['outline'].shape)}"
        )
    return outline


def auto_depth(size: int) -> int:
    """U-Net levels: halve while the size stays even and the map is at least 2x2."""
    depth = 0
    while size % 2 == 0 and size // 2 >= 2:
        size //= 2
        depth += 1
    return depth


# ----------------------------------------------------------------------------- model


def g_norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.Identity()


class NoiseDropout(nn.Module):
    """pix2pix's noise: dropout that stays on when sampling (the generator has no latent)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True)


class IntensityFeatures(nn.Module):
    """Each input channel v in [-1, 1] -> (v, sin(2^k pi v), cos(2^k pi v) for k < frequencies).

    Networks are slow to learn functions that change sharply with a scalar input (spectral
    bias; Tancik et al., 2020); colorize is one: red and blue differ by 0.014 in luma.
    Sinusoids of the intensity make such a lookup easy to learn.
    """

    def __init__(self, frequencies: int) -> None:
        super().__init__()
        self.register_buffer("scales", math.pi * 2.0 ** torch.arange(frequencies), persistent=False)

    def out_channels(self, in_ch: int) -> int:
        return in_ch * (1 + 2 * len(self.scales))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.scales) == 0:
            return x
        angles = ((x + 1) / 2).unsqueeze(2) * self.scales.view(1, 1, -1, 1, 1)
        return torch.cat([x, torch.sin(angles).flatten(1, 2), torch.cos(angles).flatten(1, 2)], dim=1)


class UNet(nn.Module):
    """Encoder of stride-2 4x4 convs, decoder of stride-2 4x4 transposed convs, each
    decoder level concatenated with the encoder map of the same size (skip connections);
    tanh output in [-1, 1]."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        depth: int,
        channels: int,
        max_channels: int,
        norm: str,
        dropout: float,
        dropout_levels: int,
        frequencies: int = 0,
    ) -> None:
        super().__init__()
        widths = [min(channels * 2**i, max_channels) for i in range(depth)]
        self.features = IntensityFeatures(frequencies)
        in_ch = self.features.out_channels(in_ch)
        self.downs = nn.ModuleList()
        prev = in_ch
        for i, width in enumerate(widths):
            # No norm on the first level (as pix2pix) nor on the bottleneck, whose map may be 1x1.
            normed = 0 < i < depth - 1
            layers: list[nn.Module] = [nn.Conv2d(prev, width, 4, 2, 1, bias=not (normed and norm == "batch"))]
            if normed:
                layers.append(g_norm_layer(norm, width))
            layers.append(nn.LeakyReLU(0.2) if i < depth - 1 else nn.ReLU())
            self.downs.append(nn.Sequential(*layers))
            prev = width
        self.ups = nn.ModuleList()
        for level in reversed(range(1, depth)):  # level = the encoder map this up-step's output joins
            in_width = widths[level] if level == depth - 1 else 2 * widths[level]
            layers = [
                nn.ConvTranspose2d(in_width, widths[level - 1], 4, 2, 1, bias=norm != "batch"),
                g_norm_layer(norm, widths[level - 1]),
            ]
            if dropout > 0 and depth - 1 - level < dropout_levels:
                layers.append(NoiseDropout(dropout))
            layers.append(nn.ReLU())
            self.ups.append(nn.Sequential(*layers))
        top = widths[0]
        self.up_top = nn.Sequential(
            nn.ConvTranspose2d(2 * top if depth > 1 else top, top, 4, 2, 1, bias=norm != "batch"),
            g_norm_layer(norm, top),
            nn.ReLU(),
        )
        # The outermost skip carries the input pixels themselves into a per-pixel (1x1) head:
        # a translation like colorize is mostly a function of each pixel given its context.
        self.head = nn.Sequential(nn.Conv2d(top + in_ch, top, 1), nn.ReLU(), nn.Conv2d(top, out_ch, 1))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        skips = []
        x = source = self.features(source)
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.ups:
            x = torch.cat([up(x), skips.pop()], dim=1)
        return torch.tanh(self.head(torch.cat([self.up_top(x), source], dim=1)))


class PatchDiscriminator(nn.Module):
    """PatchGAN: (input, image) concatenated on channels -> a map of real/fake logits, one
    per overlapping patch, so it judges local texture and colour while L1 handles layout."""

    def __init__(self, in_ch: int, layers: int, channels: int, norm: str) -> None:
        super().__init__()

        def conv(a: int, b: int, stride: int) -> nn.Module:
            layer = nn.Conv2d(a, b, 4, stride, 1)
            return nn.utils.parametrizations.spectral_norm(layer) if norm == "spectral" else layer

        def normed(width: int) -> nn.Module:
            if norm == "batch":
                return nn.BatchNorm2d(width)
            if norm == "instance":
                return nn.InstanceNorm2d(width, affine=True)
            return nn.Identity()

        body: list[nn.Module] = [conv(in_ch, channels, 2), nn.LeakyReLU(0.2)]
        width = channels
        for _ in range(layers - 1):
            body += [conv(width, width * 2, 2), normed(width * 2), nn.LeakyReLU(0.2)]
            width *= 2
        body += [conv(width, width * 2, 1), normed(width * 2), nn.LeakyReLU(0.2), conv(width * 2, 1, 1)]
        self.body = nn.Sequential(*body)

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([source, image], dim=1))


# ----------------------------------------------------------------------------- losses


def d_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss on patch logits of real and generated pairs."""
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_adv_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator's adversarial loss on the patch logits of its images."""
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if kind == "hinge":
        return -fake.mean()
    return F.softplus(-fake).mean()  # non-saturating


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image peak signal-to-noise ratio in dB for images in [0, 1] (capped at 100)."""
    mse = ((output - target) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp(min=1e-10))).clamp(max=100.0)


# ----------------------------------------------------------------------------- glue


class Pix2Pix(GenerativeAlgorithm):
    """U-Net + PatchGAN image-to-image translation (colorize, outline -> filled)."""

    name = "pix2pix"
    Config = Pix2PixConfig
    unit = "generator steps"
    description = "pix2pix image-to-image translation (U-Net + PatchGAN): colorize, outline -> filled"
    default_monitor = "dev/psnr"

    def __init__(self, config: Pix2PixConfig, trainer: Trainer) -> None:
        super().__init__(config, trainer)
        self.config: Pix2PixConfig = config
        self.inputs = {
            "train": task_inputs(self.splits.train, config.task),
            "dev": task_inputs(self.splits.dev, config.task),
            "test": task_inputs(self.splits.test, config.task),
        }
        self.input_shape: tuple[int, int, int] = tuple(self.inputs["train"].shape[1:])  # type: ignore[assignment]
        self.train_in = self.inputs["train"].to(trainer.device)
        channels, height, width = self.image_shape
        depth = config.depth or auto_depth(min(height, width))
        if height % 2**depth or width % 2**depth or depth < 1:
            raise ConfigError(
                f"depth {depth} does not fit {height}x{width} images: each level halves the size, which must "
                f"stay a whole number; use depth <= {auto_depth(min(height, width))} (or 0 = automatic)"
            )
        d_layers = config.d_layers or min(3, max(1, int(math.log2(min(height, width))) - 3))
        if min(height, width) < 2 ** (d_layers + 1):
            raise ConfigError(f"d_layers {d_layers} is too deep for {height}x{width} images; use 0 (automatic)")
        generator = UNet(
            self.input_shape[0],
            channels,
            depth,
            config.channels,
            config.max_channels,
            config.g_norm,
            config.dropout if config.noise == "dropout" else 0.0,
            config.dropout_levels,
            config.input_frequencies,
        )
        discriminator = PatchDiscriminator(self.input_shape[0] + channels, d_layers, config.d_channels, config.d_norm)
        self.generator = trainer.add_model("generator", generator)
        self.discriminator = trainer.add_model("discriminator", discriminator)
        trainer.add_optimizer("generator", ["generator"], config.g_optim)
        trainer.add_optimizer("discriminator", ["discriminator"], config.d_optim)
        if config.ema_decay > 0:
            trainer.add_ema("generator", config.ema_decay)
        self.latent_dim = 1 if config.noise == "dropout" else 0
        self.trainer.tracker.print(
            f"pix2pix {config.task}: {self.input_shape} -> {self.image_shape}, U-Net depth {depth} "
            f"({count_parameters(generator):,} params), "
            f"PatchGAN {d_layers} layers ({count_parameters(discriminator):,})"
        )

    # -- data: the condition of a pair is its input image

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next training targets and their input images (both on the device, in [0, 1])."""
        index = self.batches.next_index().to(self.train_x.device)
        return self.train_x[index], self.train_in[index]

    # -- update

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        target, source = self.next_batch()
        source, target = source * 2 - 1, target * 2 - 1  # the networks work in [-1, 1]
        self.generator.train()
        self.discriminator.train()
        with self.trainer.autocast():
            fake = self.generator(source)
        metrics: dict[str, float] = {}
        adversarial = cfg.gan_weight > 0
        if adversarial:
            with self.trainer.autocast():
                real_logits = self.discriminator(source, target).float()
                fake_logits = self.discriminator(source, fake.detach()).float()
            loss_d = d_loss(real_logits, fake_logits, cfg.gan_loss)
            metrics.update(self.trainer.optimize({"d": loss_d}, optimizer="discriminator"))
            metrics["losses/d"] = float(loss_d.detach())
            # Patch-level accuracy of the discriminator (it hovers near 50% at equilibrium).
            metrics["charts/d_real_accuracy"] = float((real_logits.detach() > 0).float().mean())
            metrics["charts/d_fake_accuracy"] = float((fake_logits.detach() < 0).float().mean())
        self.discriminator.requires_grad_(False)  # the G step needs gradients w.r.t. images only
        try:
            terms = {"l1": cfg.l1_weight * (fake.float() - target).abs().mean()}
            if adversarial:
                with self.trainer.autocast():
                    logits = self.discriminator(source, fake).float()
                terms["gan"] = cfg.gan_weight * g_adv_loss(logits, cfg.gan_loss)
            metrics.update(self.trainer.optimize(terms, optimizer="generator"))
        finally:
            self.discriminator.requires_grad_(True)
        # In [0, 1] pixel units (the loss sees [-1, 1] images), comparable with dev/l1.
        metrics["losses/g_l1"] = float((fake.detach().float() - target).abs().mean()) / 2
        if adversarial:
            metrics["losses/g_gan"] = float(terms["gan"].detach()) / cfg.gan_weight
        return metrics

    # -- sampling

    def _sampler(self) -> nn.Module:
        model = self.trainer.emas["generator"].module if "generator" in self.trainer.emas else self.generator
        model.eval()
        return model

    def latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """One integer seed per image for the dropout noise ([n, 0] when there is none)."""
        if self.latent_dim == 0:
            return torch.zeros(n, 0)
        return torch.randint(0, 2**24, (n, 1), generator=generator).float()

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """Input images [N, C_in, H, W] in [0, 1] -> outputs in [0, 1]; z seeds the dropout noise."""
        if condition is None:
            raise ConfigError(f"pix2pix translates an input image; {self.spec.accepts()}")
        model = self._sampler()
        source = condition.to(self.trainer.device).float() * 2 - 1
        if self.latent_dim == 0:
            return (model(source) + 1) / 2
        devices = [self.trainer.device] if self.trainer.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # noise from z, the training RNG untouched
            torch.manual_seed(int(z[0, 0]) if len(z) else 0)
            return (model(source) + 1) / 2

    def _conditions(self, n: int, condition: Any, generator: torch.Generator) -> torch.Tensor:
        """Input images for n outputs: a file, a tensor [C, H, W] / [N, C, H, W] in [0, 1],
        or None (inputs drawn from the test split)."""
        if condition is None:
            index = torch.randint(len(self.splits.test), (n,), generator=generator)
            return self.inputs["test"][index]
        if isinstance(condition, torch.Tensor):
            cond = condition.detach().float().cpu()
            cond = cond.unsqueeze(0) if cond.dim() == 3 else cond
            if cond.dim() != 4 or tuple(cond.shape[1:]) != self.input_shape:
                raise ConfigError(
                    f"input image tensor of shape {tuple(condition.shape)}; the model takes [C, H, W] or "
                    f"[N, C, H, W] with C, H, W = {self.input_shape} ({self.config.task} inputs, values in [0, 1])"
                )
        else:
            cond = load_condition_image(condition, self.input_shape)
        if len(cond) not in (1, n):
            raise ConfigError(f"{len(cond)} input images for n={n} outputs; give one image or n of them")
        return cond.expand(n, *cond.shape[1:]) if len(cond) == 1 else cond

    def translate(self, split: str, count: int, seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, outputs, targets) of the first `count` pairs of a split, CPU, in [0, 1]."""
        data = getattr(self.splits, split)
        count = min(count, len(data))
        source = self.inputs[split][:count]
        z = self.latents(count, torch.Generator().manual_seed(seed))
        return source, self.generate(z, source), data.x[:count]

    def grid(self, seed: int | None = None, columns: int | None = None) -> tuple[torch.Tensor, list[str]]:
        """Rows of (input, output, target) triplets from the dev split: `columns` triplets per row."""
        per_row = max(1, (columns or self.config.grid_columns) // 2)
        rows = 4
        source, output, target = self.translate("dev", per_row * rows, seed if seed is not None else self.config.seed)
        if source.shape[1] != target.shape[1]:
            source = source.expand(-1, target.shape[1], -1, -1)  # gray inputs shown as RGB
        images = torch.stack([source, output, target], dim=1).flatten(0, 1)
        return images, [f"(input, output, target) x {per_row}"] * math.ceil(len(source) / per_row)

    def log_grid(self) -> None:
        images, names = self.grid()
        per_row = max(1, self.config.grid_columns // 2)
        self.trainer.tracker.log_image(
            "samples/grid",
            make_grid(images, 3 * per_row),
            self.trainer.step,
            f"{self.config.task}: rows of (input, output, target) triplets, dev split",
        )

    def interpolate(
        self, steps: int = 8, rows: int = 4, condition: Any = None, seed: int | None = None
    ) -> torch.Tensor:
        raise ConfigError("pix2pix has no latent space to interpolate; sample with --condition-image instead")

    # -- evaluation

    def pair_metrics(self, split: str, count: int, prefix: str) -> tuple[dict[str, float], torch.Tensor]:
        """L1 and PSNR of outputs vs targets on a split; also returns the outputs."""
        _, output, target = self.translate(split, count)
        return {
            f"{prefix}/l1": float((output - target).abs().mean()),
            f"{prefix}/psnr": float(psnr(output, target).mean()),
        }, output

    def reference_metrics(self, output: torch.Tensor) -> dict[str, float]:
        """Reference-classifier metrics of test outputs: attribute accuracy (colorize: is the
        colour right?) and Frechet distance to the test targets (via generative/metrics.py)."""
        from .metrics import evaluate_samples

        test = self.splits.test
        count = len(output)
        requested = test.attributes[:count] if test.attributes is not None else test.y[:count]
        return evaluate_samples(
            self.reference(), output, requested, real_test=test.x[:count], real_train=self.splits.train.x, n=count
        )

    def evaluate(self) -> dict[str, float]:
        self.log_grid()
        if self.config.eval_samples <= 0:
            return {}
        metrics, _ = self.pair_metrics("dev", self.config.eval_samples, "dev")
        return metrics

    def report(self, **options: Any) -> dict[str, Any]:
        self.log_grid()
        results, output = self.pair_metrics("test", self.config.metric_samples, "metrics")
        if self.config.metrics:
            results.update(self.reference_metrics(output))
        return results
