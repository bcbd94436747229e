"""Condition specs: parsing what users type, errors that list the choices, encoders."""

from __future__ import annotations

import pytest
import torch

from rlgen.data import ImageDataset
from rlgen.errors import ConfigError, RlgenError
from rlgen.generative.base import make_grid, slerp
from rlgen.generative.conditions import (
    UNSPECIFIED,
    ConditionEncoder,
    ConditionSpec,
    drop_factors,
    load_condition_image,
    readout_loss,
    readout_size,
)

FACTORS = {"shape": ["circle", "square", "triangle"], "colour": ["red", "green"], "size": ["small", "large"]}


def toy_dataset(n: int = 12) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    attributes = torch.stack([torch.randint(len(v), (n,), generator=g) for v in FACTORS.values()], 1)
    captions = [
        f"a {FACTORS['size'][s]} {FACTORS['colour'][c]} {FACTORS['shape'][h]}" for h, c, s in attributes.tolist()
    ]
    return ImageDataset(
        "toy", torch.rand(n, 3, 8, 8), attributes[:, 0].clone(), FACTORS["shape"], FACTORS, attributes, captions
    )


def test_label_parse_by_name_and_index_and_errors() -> None:
    spec = ConditionSpec.from_dataset(toy_dataset(), "label")
    assert spec.parse("square").tolist() == [1]
    assert spec.parse("2").tolist() == [2]
    with pytest.raises(ConfigError, match="circle, square, triangle"):
        spec.parse("hexagon")
    with pytest.raises(ConfigError, match="circle, square, triangle"):
        spec.parse("7")


def test_attribute_parse_partial_and_errors() -> None:
    spec = ConditionSpec.from_dataset(toy_dataset(), "attributes")
    row = spec.parse("shape=triangle, colour=green")
    assert row.tolist() == [[2, 1, UNSPECIFIED]]
    with pytest.raises(RlgenError, match="colour, shape, size"):
        spec.parse("hue=red")
    with pytest.raises(RlgenError, match="green, red"):
        spec.parse("colour=purple")
    with pytest.raises(ConfigError, match="factor=value"):
        spec.parse("circle")


def test_caption_vocab_tokens_and_unknown_words() -> None:
    data = toy_dataset()
    spec = ConditionSpec.from_dataset(data, "caption")
    ids = spec.encode_captions(["A large red circle", data.captions[0]])
    assert ids.shape == (2, spec.max_tokens)
    assert (ids[0, :4] > 0).all()
    assert spec.batch(data, torch.tensor([0]))[0].tolist() == ids[1].tolist()
    with pytest.raises(ConfigError, match="unknown words \\['purple'\\]"):
        spec.parse("a small purple circle")


def test_auto_picks_richest_condition_and_missing_condition_errors() -> None:
    data = toy_dataset()
    assert ConditionSpec.from_dataset(data, "auto").kind == "caption"
    plain = ImageDataset("plain", torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]), ["a", "b"])
    assert ConditionSpec.from_dataset(plain, "auto").kind == "label"
    with pytest.raises(ConfigError, match="no attributes"):
        ConditionSpec.from_dataset(plain, "attributes")
    with pytest.raises(ConfigError, match="no captions"):
        ConditionSpec.from_dataset(plain, "caption")
    with pytest.raises(RlgenError, match="unknown condition"):
        ConditionSpec.from_dataset(plain, "colour")
    with pytest.raises(ConfigError, match="unconditional"):
        ConditionSpec.from_dataset(plain, "none").parse("a")


def test_encoders_give_one_embedding_per_row_and_any_value_row() -> None:
    data = toy_dataset()
    for kind in ("label", "attributes", "caption"):
        spec = ConditionSpec.from_dataset(data, kind)
        encoder = ConditionEncoder(spec, 16)
        cond = spec.batch(data, torch.arange(5))
        assert encoder(cond).shape == (5, 16)
    spec = ConditionSpec.from_dataset(data, "attributes")
    encoder = ConditionEncoder(spec, 4)
    # An unspecified factor uses its own learned row, not some real value's row.
    free = encoder(torch.tensor([[0, UNSPECIFIED, 0]]))
    for colour in range(2):
        assert not torch.allclose(free, encoder(torch.tensor([[0, colour, 0]])))


@pytest.mark.parametrize("text", ["gru", "pool"])
def test_caption_encoder_ignores_padding_beyond_length(text: str) -> None:
    data = toy_dataset()
    spec = ConditionSpec.from_dataset(data, "caption")
    spec.max_tokens += 3
    encoder = ConditionEncoder(spec, 8, text=text)
    ids = spec.encode_captions(["a small red circle"])
    longer = ids.clone()
    assert encoder(ids).shape == (1, 8)
    longer[0, -1] = 0  # still padding: same embedding
    assert torch.allclose(encoder(ids), encoder(longer))
    other = spec.encode_captions(["a small green circle"])
    assert not torch.allclose(encoder(ids), encoder(other))


def test_pool_encoder_ignores_word_order_and_unknown_text_encoder_errors() -> None:
    data = toy_dataset()
    spec = ConditionSpec.from_dataset(data, "caption")
    encoder = ConditionEncoder(spec, 8, text="pool")
    assert torch.allclose(
        encoder(spec.encode_captions(["a small red circle"])), encoder(spec.encode_captions(["circle red small a"]))
    )
    with pytest.raises(RlgenError, match="gru"):
        ConditionEncoder(spec, 8, text="lstm")


def test_readout_loss_targets_each_condition_kind() -> None:
    data = toy_dataset()
    sure = 30.0  # logits this confident cost ~0 when right
    label = ConditionSpec.from_dataset(data, "label")
    assert readout_size(label) == 3
    right = torch.nn.functional.one_hot(torch.tensor([2, 0]), 3) * sure
    assert readout_loss(label, right, torch.tensor([2, 0])) < 1e-6
    assert readout_loss(label, right, torch.tensor([0, 2])) > 10

    attributes = ConditionSpec.from_dataset(data, "attributes")
    assert readout_size(attributes) == 3 + 2 + 2
    logits = torch.full((1, 7), -sure)
    logits[0, [0, 3 + 1, 5 + 0]] = sure  # circle, green, small
    assert readout_loss(attributes, logits, torch.tensor([[0, 1, 0]])) < 1e-6
    assert readout_loss(attributes, logits, torch.tensor([[0, 0, 0]])) > 10
    # A hidden factor is not asked for: a wrong colour reading costs nothing then.
    assert readout_loss(attributes, logits, torch.tensor([[0, UNSPECIFIED, 0]])) < 1e-6

    caption = ConditionSpec.from_dataset(data, "caption")
    assert readout_size(caption) == len(caption.vocab)
    ids = caption.encode_captions(["a small red circle"])
    used = {caption.vocab.index(w) for w in ("a", "small", "red", "circle")}
    logits = torch.tensor([[sure if i in used else -sure for i in range(len(caption.vocab))]])
    assert readout_loss(caption, logits, ids) < 1e-6
    assert readout_loss(caption, logits, caption.encode_captions(["a large red circle"])) > 1
    with pytest.raises(ConfigError, match="read back"):
        readout_size(ConditionSpec())


def test_drop_factors_rate() -> None:
    attributes = torch.zeros(10_000, 3, dtype=torch.long)
    dropped = drop_factors(attributes, 0.25, torch.Generator().manual_seed(0))
    assert abs((dropped == UNSPECIFIED).float().mean().item() - 0.25) < 0.02
    assert drop_factors(attributes, 0.0) is attributes


def test_condition_image_checks_size_and_reads_pixels(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "in.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)
    image = load_condition_image(path, (3, 8, 8))
    assert image.shape == (1, 3, 8, 8)
    assert torch.allclose(image[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="takes 16x16"):
        load_condition_image(path, (3, 16, 16))
    with pytest.raises(ConfigError, match="does not exist"):
        load_condition_image(tmp_path / "missing.png", (3, 8, 8))


def test_slerp_endpoints_and_grid_layout() -> None:
    a, b = torch.randn(2, 5), torch.randn(2, 5)
    assert torch.allclose(slerp(a, b, torch.tensor(0.0)), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.tensor(1.0)), b, atol=1e-5)
    images = torch.rand(6, 3, 4, 4)
    grid = make_grid(images, columns=4, pad=1)
    assert grid.shape == (3, 2 * 5 + 1, 4 * 5 + 1)
    assert torch.equal(grid[:, 6:10, 1:5], images[4])
