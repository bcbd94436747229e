"""Network building blocks: MLP, CNN, residual tower, conv encoder/decoder, heads.

Activation, normalization (batch, layer, spectral, none), dropout and initialization
(xavier/glorot, kaiming, orthogonal) are choices by name, so configs can set them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from rlgen.errors import ConfigError, unknown_name

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}
NORMS = ("batch", "layer", "spectral", "none")
INITS = ("default", "xavier", "glorot", "kaiming", "orthogonal")
IMAGE_SIZES = (8, 16, 28, 32, 64)


def activation(name: str) -> nn.Module:
    """A fresh activation module by name."""
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, list(ACTIVATIONS))
    return ACTIVATIONS[name]()


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise unknown_name("normalization", norm, list(NORMS))


def norm_layer(norm: str, features: int, kind: str = "conv") -> nn.Module:
    """Batch or layer normalization for conv maps or flat features; identity otherwise.

    Spectral normalization is a weight reparametrization, applied by `maybe_spectral`.
    """
    _check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(features) if kind == "conv" else nn.BatchNorm1d(features)
    if norm == "layer":
        # GroupNorm with one group normalizes over (C, H, W) like LayerNorm, for any size.
        return nn.GroupNorm(1, features) if kind == "conv" else nn.LayerNorm(features)
    return nn.Identity()


def maybe_spectral(layer: nn.Module, norm: str) -> nn.Module:
    """Wrap a linear/conv layer with spectral normalization when norm == 'spectral'."""
    if norm == "spectral":
        return nn.utils.parametrizations.spectral_norm(layer)
    return layer


def init_weights(module: nn.Module, scheme: str = "default", nonlinearity: str = "relu") -> nn.Module:
    """Initialize linear/conv weights in place ('default' keeps torch's init); zero biases."""
    if scheme not in INITS:
        raise unknown_name("initialization", scheme, list(INITS))
    if scheme == "default":
        return module
    gain_name = nonlinearity if nonlinearity in ("relu", "leaky_relu", "tanh", "sigmoid") else "relu"
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            weight = getattr(layer, "parametrizations", None)
            weight = layer.parametrizations.weight.original if weight is not None else layer.weight
            if scheme in ("xavier", "glorot"):
                nn.init.xavier_uniform_(weight, gain=nn.init.calculate_gain(gain_name, 0.2))
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(weight, a=0.2 if gain_name == "leaky_relu" else 0, nonlinearity=gain_name)
            else:
                nn.init.orthogonal_(weight, gain=nn.init.calculate_gain(gain_name, 0.2))
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class MLP(nn.Sequential):
    """Linear layers with activation, normalization and dropout between them."""

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int | None = None,
        act: str = "relu",
        norm: str = "none",
        dropout: float = 0.0,
        init: str = "default",
    ) -> None:
        _check_norm(norm)
        layers: list[nn.Module] = []
        dim = in_dim
        for width in hidden:
            layers.append(maybe_spectral(nn.Linear(dim, width), norm))
            layers.append(norm_layer(norm, width, kind="flat"))
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            dim = width
        if out_dim is not None:
            layers.append(maybe_spectral(nn.Linear(dim, out_dim), norm))
            dim = out_dim
        super().__init__(*layers)
        self.out_dim = dim
        init_weights(self, init, act)


def conv_block(
    in_ch: int, out_ch: int, act: str = "relu", norm: str = "batch", kernel: int = 3, stride: int = 1
) -> nn.Sequential:
    """Conv (same padding) -> norm -> activation."""
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=norm not in ("batch", "layer"))
    return nn.Sequential(maybe_spectral(conv, norm), norm_layer(norm, out_ch), activation(act))


def inference_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """A frozen copy of `model` for fast evaluation: in eval mode, every Conv2d followed by a
    BatchNorm2d in a Sequential folded into one conv, and weights cast to `dtype` (None keeps
    fp32). Feed it inputs of that dtype. bf16 weights skip the per-call casts of autocast."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    frozen = copy.deepcopy(model).eval()
    for seq in frozen.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            if (
                isinstance(seq[i], nn.Conv2d)
                and isinstance(seq[i + 1], nn.BatchNorm2d)
                and seq[i + 1].track_running_stats
            ):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    frozen.requires_grad_(False)
    return frozen.to(dtype) if dtype is not None else frozen


class CNN(nn.Module):
    """Conv stages (two conv blocks, then 2x2 max-pool each) -> MLP head.

    `features(x)` returns the penultimate representation, which the generative metrics
    reuse as a domain-specific feature space.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_dim: int,
        channels: Sequence[int] = (32, 64),
        hidden: Sequence[int] = (128,),
        act: str = "relu",
        norm: str = "batch",
        dropout: float = 0.0,
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        in_ch, height, width = in_shape
        stages: list[nn.Module] = []
        for ch in channels:
            stages += [conv_block(in_ch, ch, act, norm), conv_block(ch, ch, act, norm)]
            if min(height, width) >= 2:
                stages.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_ch = ch
        self.body = nn.Sequential(*stages, nn.Flatten())
        flat = in_ch * height * width
        self.neck = MLP(flat, hidden, None, act, "none" if norm == "batch" else norm, dropout)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(self.neck.out_dim, out_dim)
        self.feature_dim = self.neck.out_dim
        init_weights(self, init, act)
        # A relu-gain init of the output layer starts with large logits; start near uniform.
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features."""
        return self.neck(self.drop(self.body(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


class ResidualBlock(nn.Module):
    """Two 3x3 convs with a skip connection (the AlphaZero tower block)."""

    def __init__(self, channels: int, act: str = "relu", norm: str = "batch") -> None:
        super().__init__()
        self.conv1 = conv_block(channels, channels, act, norm)
        conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=norm not in ("batch", "layer"))
        self.conv2 = nn.Sequential(maybe_spectral(conv2, norm), norm_layer(norm, channels))
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.conv1(x)))


class ResidualTower(nn.Module):
    """Stem conv then `blocks` residual blocks at constant resolution."""

    def __init__(
        self,
        in_ch: int,
        channels: int = 64,
        blocks: int = 4,
        act: str = "relu",
        norm: str = "batch",
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        self.stem = conv_block(in_ch, channels, act, norm)
        self.blocks = nn.Sequential(*[ResidualBlock(channels, act, norm) for _ in range(blocks)])
        self.out_channels = channels
        init_weights(self, init, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


def _scale_plan(size: int) -> tuple[int, int]:
    """(base size, number of 2x steps) such that base * 2**steps == size, base <= 7."""
    if size not in IMAGE_SIZES:
        raise ConfigError(f"image size {size} is not supported; sizes: {', '.join(map(str, IMAGE_SIZES))}")
    steps = 0
    while size > 7 and size % 2 == 0:
        size //= 2
        steps += 1
    return size, steps


class ConvEncoder(nn.Module):
    """Image [N, C, S, S] -> vector [N, out_dim] by stride-2 convs down to a base grid."""

    def __init__(
        self,
        image_shape: Sequence[int],
        out_dim: int,
        base_channels: int = 32,
        max_channels: int = 256,
        act: str = "leaky_relu",
        norm: str = "batch",
        init: str = "default",
    ) -> None:
        super().__init__()
        in_ch, height, width = image_shape
        if height != width:
            raise ConfigError(f"ConvEncoder needs square images, got {height}x{width}")
        base, steps = _scale_plan(height)
        layers: list[nn.Module] = [conv_block(in_ch, base_channels, act, "spectral" if norm == "spectral" else "none")]
        ch = base_channels
        for _ in range(steps):
            nxt = min(ch * 2, max_channels)
            layers.append(conv_block(ch, nxt, act, norm, kernel=3, stride=2))
            ch = nxt
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = maybe_spectral(nn.Linear(ch * base * base, out_dim), norm)
        self.out_dim = out_dim
        init_weights(self, init, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ConvDecoder(nn.Module):
    """Vector [N, in_dim] -> image logits [N, C, S, S] by 2x transposed convs from a base grid."""

    def __init__(
        self,
        in_dim: int,
        image_shape: Sequence[int],
        base_channels: int = 32,
        max_channels: int = 256,
        act: str = "relu",
        norm: str = "batch",
        init: str = "default",
    ) -> None:
        super().__init__()
        out_ch, height, width = image_shape
        if height != width:
            raise ConfigError(f"ConvDecoder needs square images, got {height}x{width}")
        base, steps = _scale_plan(height)
        ch = min(base_channels * 2**steps, max_channels)
        self.base, self.base_channels = base, ch
        self.stem = nn.Sequential(nn.Linear(in_dim, ch * base * base), activation(act))
        layers: list[nn.Module] = []
        for _ in range(steps):
            nxt = max(ch // 2, base_channels)
            up = nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1, bias=norm not in ("batch", "layer"))
            layers += [maybe_spectral(up, norm), norm_layer(norm, nxt), activation(act)]
            ch = nxt
        layers.append(nn.Conv2d(ch, out_ch, 3, padding=1))
        self.body = nn.Sequential(*layers)
        init_weights(self, init, act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z).view(z.shape[0], self.base_channels, self.base, self.base)
        return self.body(x)


class PolicyHead(nn.Module):
    """Conv features [N, C, H, W] -> move logits [N, actions] (1x1 conv, then linear)."""

    def __init__(self, channels: int, board_cells: int, actions: int, act: str = "relu", norm: str = "batch") -> None:
        super().__init__()
        self.conv = conv_block(channels, 2, act, norm, kernel=1)
        self.fc = nn.Linear(2 * board_cells, actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


class ValueHead(nn.Module):
    """Conv features -> scalar value in [-1, 1] from the side to move's view."""

    def __init__(
        self, channels: int, board_cells: int, hidden: int = 64, act: str = "relu", norm: str = "batch"
    ) -> None:
        super().__init__()
        self.conv = conv_block(channels, 1, act, norm, kernel=1)
        self.fc = nn.Sequential(nn.Linear(board_cells, hidden), activation(act), nn.Linear(hidden, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1)).squeeze(-1)


class DuelingHead(nn.Module):
    """Features -> Q-values as V(s) + A(s, a) - mean_a A(s, a)."""

    def __init__(self, in_dim: int, actions: int, hidden: int = 128, act: str = "relu") -> None:
        super().__init__()
        self.value = MLP(in_dim, [hidden], 1, act)
        self.advantage = MLP(in_dim, [hidden], actions, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adv = self.advantage(x)
        return self.value(x) + adv - adv.mean(dim=-1, keepdim=True)


class GaussianHead(nn.Module):
    """Features -> (mean, log_std) of a diagonal Gaussian; log_std is state-independent."""

    def __init__(self, in_dim: int, action_dim: int, init_log_std: float = 0.0) -> None:
        super().__init__()
        self.mean = nn.Linear(in_dim, action_dim)
        nn.init.orthogonal_(self.mean.weight, gain=0.01)
        nn.init.zeros_(self.mean.bias)
        self.log_std = nn.Parameter(torch.full((action_dim,), init_log_std))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean(x)
        return mean, self.log_std.expand_as(mean)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "ACTIVATIONS",
    "CNN",
    "ConvDecoder",
    "ConvEncoder",
    "DuelingHead",
    "GaussianHead",
    "INITS",
    "IMAGE_SIZES",
    "MLP",
    "NORMS",
    "PolicyHead",
    "ResidualBlock",
    "ResidualTower",
    "ValueHead",
    "activation",
    "conv_block",
    "count_parameters",
    "init_weights",
    "maybe_spectral",
    "norm_layer",
]
