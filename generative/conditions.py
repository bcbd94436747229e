"""What a conditional model is conditioned on, and how a condition becomes a vector.

A `ConditionSpec` is read off the dataset (class names, attribute factors, caption
vocabulary, source-image shape) and knows how to
- take the training condition of a batch (`batch`),
- parse what a user types (`parse`: "7", "shape=circle,colour=red", "a large blue square",
  or an image file) with errors that list what the model accepts,
- pick the rows of a sample grid (`grid`).
`ConditionEncoder` turns those tensors into one embedding per image for the networks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlgen.data import ImageDataset
from rlgen.errors import ConfigError, unknown_name

CONDITION_KINDS = ("none", "label", "attributes", "caption", "image")
TEXT_ENCODERS = ("gru", "pool")
"""How a caption encoder reads its words: a GRU, or a sum of word embeddings."""
UNSPECIFIED = -1
"""Attribute value index meaning 'any value of this factor'."""
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of a caption."""
    return _TOKEN.findall(text.lower())


@dataclass
class ConditionSpec:
    """The condition type of a model and everything needed to parse and encode it."""

    kind: str = "none"
    """none, label, attributes, caption or image."""
    classes: list[str] = field(default_factory=list)
    """Class names (label conditions)."""
    factors: dict[str, list[str]] = field(default_factory=dict)
    """Attribute factor -> value names (attribute conditions)."""
    vocab: list[str] = field(default_factory=list)
    """Caption words; token id = index + 1, 0 is padding."""
    max_tokens: int = 0
    """Longest caption, in tokens."""
    grid_captions: list[str] = field(default_factory=list)
    """Captions used as the rows of sample grids."""

    @classmethod
    def from_dataset(cls, data: ImageDataset, kind: str) -> ConditionSpec:
        """The spec for conditioning on `kind` ('auto': the richest condition the data has)."""
        if kind == "auto":
            kind = "caption" if data.captions else "attributes" if data.factors else "label"
        if kind not in CONDITION_KINDS:
            raise unknown_name("condition", kind, [*CONDITION_KINDS, "auto"])
        spec = cls(kind=kind)
        if kind == "label":
            spec.classes = list(data.classes) or [str(i) for i in range(data.num_classes)]
            if len(spec.classes) < 2:
                raise ConfigError(f"dataset '{data.name}' has a single class; a label condition needs two or more")
        elif kind == "attributes":
            if data.attributes is None:
                raise ConfigError(
                    f"dataset '{data.name}' has no attributes; condition on 'label' or use a dataset "
                    "with attribute factors (e.g. shapes)"
                )
            spec.factors = {name: list(values) for name, values in data.factors.items()}
        elif kind == "caption":
            if not data.captions:
                raise ConfigError(f"dataset '{data.name}' has no captions; caption conditions need e.g. shapes")
            tokens = [tokenize(c) for c in data.captions]
            spec.vocab = sorted({t for caption in tokens for t in caption})
            spec.max_tokens = max(len(t) for t in tokens)
            spec.grid_captions = _distinct(data.captions, 8)
        return spec

    # -- training batches

    def batch(self, data: ImageDataset, index: torch.Tensor) -> torch.Tensor | None:
        """The conditions of `data[index]` as the tensor the encoder takes (None: unconditional)."""
        if self.kind == "label":
            return data.y[index]
        if self.kind == "attributes":
            return data.attributes[index]  # type: ignore[index]
        if self.kind == "caption":
            return self.encode_captions([data.captions[i] for i in index.tolist()])  # type: ignore[index]
        return None

    def encode_captions(self, captions: list[str]) -> torch.Tensor:
        """Token ids [N, max_tokens] (0-padded); unknown words are an error listing the vocabulary."""
        ids = torch.zeros(len(captions), self.max_tokens, dtype=torch.long)
        lookup = {word: i + 1 for i, word in enumerate(self.vocab)}
        for row, caption in enumerate(captions):
            words = tokenize(caption)
            unknown = [w for w in words if w not in lookup]
            if unknown or not words:
                raise ConfigError(
                    f"caption '{caption}': unknown words {unknown or '(empty caption)'}; the model knows: "
                    f"{', '.join(self.vocab)} (e.g. '{self.grid_captions[0] if self.grid_captions else ''}')"
                )
            words = words[: self.max_tokens]
            ids[row, : len(words)] = torch.tensor([lookup[w] for w in words])
        return ids

    # -- user input

    def accepts(self) -> str:
        """What a user may pass as a condition, for error messages and `--help`."""
        if self.kind == "none":
            return "no condition (the model is unconditional)"
        if self.kind == "label":
            return f"a class name or index: {', '.join(self.classes)}"
        if self.kind == "attributes":
            listed = "; ".join(f"{k}={'|'.join(v)}" for k, v in self.factors.items())
            return f"'factor=value,...' pairs (unnamed factors are free): {listed}"
        if self.kind == "caption":
            return f"a caption such as '{self.grid_captions[0]}' using the words: {', '.join(self.vocab)}"
        return "an image file (--condition-image PATH) of the training inputs' size"

    def parse(self, condition: Any) -> torch.Tensor:
        """One condition typed by a user -> the encoder's tensor with a batch dimension of 1."""
        if self.kind == "none":
            raise ConfigError(f"this model is unconditional; drop the condition ('{condition}')")
        text = str(condition).strip()
        if self.kind == "label":
            if text in self.classes:
                return torch.tensor([self.classes.index(text)])
            if text.isdigit() and int(text) < len(self.classes):
                return torch.tensor([int(text)])
            raise ConfigError(f"unknown condition '{text}'; the model accepts {self.accepts()}")
        if self.kind == "attributes":
            return self._parse_attributes(text)
        if self.kind == "caption":
            return self.encode_captions([text])
        raise ConfigError(f"an image-conditioned model takes an image, not '{text}'; {self.accepts()}")

    def _parse_attributes(self, text: str) -> torch.Tensor:
        row = torch.full((1, len(self.factors)), UNSPECIFIED, dtype=torch.long)
        names = list(self.factors)
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep:
                raise ConfigError(
                    f"attribute condition '{part}' is not 'factor=value'; the model accepts {self.accepts()}"
                )
            if key not in self.factors:
                raise unknown_name("attribute factor", key, names)
            if value not in self.factors[key]:
                raise unknown_name(f"value of '{key}'", value, self.factors[key])
            row[0, names.index(key)] = self.factors[key].index(value)
        if (row == UNSPECIFIED).all():
            raise ConfigError(f"empty attribute condition '{text}'; the model accepts {self.accepts()}")
        return row

    def grid(self) -> tuple[torch.Tensor | None, list[str]]:
        """The conditions of a sample grid's rows and their names."""
        if self.kind == "label":
            return torch.arange(len(self.classes)), list(self.classes)
        if self.kind == "attributes":
            first, values = next(iter(self.factors.items()))
            second, colours = list(self.factors.items())[1] if len(self.factors) > 1 else (None, [])
            rows, names = [], []
            for i, value in enumerate(values):
                row = [UNSPECIFIED] * len(self.factors)
                row[0] = i
                if second is not None:
                    row[1] = i % len(colours)
                rows.append(row)
                names.append(f"{first}={value}" + (f",{second}={colours[i % len(colours)]}" if second else ""))
            return torch.tensor(rows), names
        if self.kind == "caption":
            return self.encode_captions(self.grid_captions), list(self.grid_captions)
        return None, [""]

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def readout_size(spec: ConditionSpec) -> int:
    """Outputs of a head that reads a condition back from an image: one per class (label),
    per value of every factor (attributes), or per vocabulary word (caption)."""
    if spec.kind == "label":
        return len(spec.classes)
    if spec.kind == "attributes":
        return sum(len(values) for values in spec.factors.values())
    if spec.kind == "caption":
        return len(spec.vocab)
    raise ConfigError(f"a '{spec.kind}' condition cannot be read back from an image")


def readout_loss(spec: ConditionSpec, logits: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """How badly `logits` (from `readout_size` outputs) read back `condition`: cross-entropy
    for a label and for each specified factor (hidden factors are skipped), and for a
    caption a binary cross-entropy per vocabulary word on whether the caption uses it
    (summed over words, divided by the caption length, so it is on a label's scale)."""
    logits = logits.float()
    if spec.kind == "label":
        return F.cross_entropy(logits, condition)
    if spec.kind == "attributes":
        losses, start = [], 0
        for i, values in enumerate(spec.factors.values()):
            target = condition[:, i]
            if (target != UNSPECIFIED).any():
                losses.append(F.cross_entropy(logits[:, start : start + len(values)], target, ignore_index=UNSPECIFIED))
            start += len(values)
        return torch.stack(losses).mean() if losses else logits.sum() * 0.0
    if spec.kind == "caption":
        words = torch.zeros(len(condition), len(spec.vocab) + 1, device=logits.device)
        words.scatter_(1, condition, 1.0)
        bce = F.binary_cross_entropy_with_logits(logits, words[:, 1:], reduction="sum")
        return bce / (len(condition) * max(spec.max_tokens, 1))
    raise ConfigError(f"a '{spec.kind}' condition cannot be read back from an image")


def _distinct(texts: list[str], n: int) -> list[str]:
    seen: list[str] = []
    for text in texts:
        if text not in seen:
            seen.append(text)
        if len(seen) == n:
            break
    return seen


def load_condition_image(path: str | Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file as a [1, C, H, W] tensor in [0, 1] of the model's input shape."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"condition image '{path}' does not exist")
    try:
        image = Image.open(path)
        image.load()
    except OSError as exc:
        raise ConfigError(f"cannot read condition image '{path}': {exc}") from None
    channels, height, width = shape
    if image.size != (width, height):
        raise ConfigError(
            f"condition image '{path}' is {image.size[0]}x{image.size[1]}; the model takes {width}x{height}"
        )
    image = image.convert("L" if channels == 1 else "RGB")
    array = torch.tensor(np.asarray(image), dtype=torch.float32).view(height, width, -1) / 255.0
    return array.permute(2, 0, 1).unsqueeze(0)


class ConditionEncoder(nn.Module):
    """Condition tensor -> embedding [N, dim].

    label: a learned table; attributes: one table per factor, summed (an unspecified factor
    has its own 'any' row, so partial conditions work); caption: word embeddings read by
    a GRU whose last state (at each caption's true length) is projected, or with
    text='pool' summed and projected (a bag of words: much quicker to learn, and enough
    when word order carries no meaning, as in the shapes captions).
    """

    def __init__(self, spec: ConditionSpec, dim: int, text: str = "gru") -> None:
        super().__init__()
        if text not in TEXT_ENCODERS:
            raise unknown_name("text encoder", text, list(TEXT_ENCODERS))
        self.kind = spec.kind
        self.dim = dim
        self.text = text
        if spec.kind == "label":
            self.table = nn.Embedding(len(spec.classes), dim)
        elif spec.kind == "attributes":
            self.tables = nn.ModuleList(nn.Embedding(len(v) + 1, dim) for v in spec.factors.values())
        elif spec.kind == "caption":
            self.words = nn.Embedding(len(spec.vocab) + 1, dim, padding_idx=0)
            self.gru = nn.GRU(dim, dim, batch_first=True) if text == "gru" else None
            self.out = nn.Linear(dim, dim)
        else:
            raise ConfigError(f"ConditionEncoder takes label, attributes or caption conditions, not '{spec.kind}'")

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        if self.kind == "label":
            return self.table(condition)
        if self.kind == "attributes":
            # UNSPECIFIED (-1) maps to each table's last row, the learned 'any value' entry.
            return sum(table(condition[:, i] % table.num_embeddings) for i, table in enumerate(self.tables))
        if self.gru is None:  # bag of words: padding (id 0) embeds to zeros
            return self.out(self.words(condition).sum(1))
        lengths = (condition > 0).sum(1).clamp(min=1)
        states, _ = self.gru(self.words(condition))
        last = states[torch.arange(len(condition), device=condition.device), lengths - 1]
        return self.out(last)


def drop_factors(attributes: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each factor by UNSPECIFIED with probability p (teaches partial conditions)."""
    if p <= 0:
        return attributes
    mask = torch.rand(attributes.shape, generator=generator, device="cpu").to(attributes.device) < p
    return attributes.masked_fill(mask, UNSPECIFIED)
