"""Sample grids with row labels: the condition of each row is drawn in a left margin, the
images are scaled up (nearest neighbour) so the text fits, and unlabelled grids stay as they were."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from test_gan import TINY

from rlgen.cli import main
from rlgen.config import build_config
from rlgen.generative.base import ROW_LABEL_MIN_PX, grid_image, make_grid, save_images
from rlgen.generative.gan import CGANConfig
from rlgen.run import train
from rlgen.tracking import to_uint8_image

TINY_CGAN = [*TINY, "data=digits", "steps=2"]  # test_gan's tiny cgan, on digits


def random_images(n: int, channels: int, size: int) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0))


def split_margin(labelled: Image.Image, unlabelled: Image.Image) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(scale, margin width, margin pixels, image part) of a labelled grid, checked against the unlabelled one."""
    scale = labelled.height // unlabelled.height
    assert labelled.height == scale * unlabelled.height, (
        "the labelled grid is the unlabelled one scaled by a whole factor"
    )
    margin = labelled.width - scale * unlabelled.width
    pixels = np.asarray(labelled)
    return scale, margin, pixels[:, :margin], pixels[:, margin:]


@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32), (3, 64)])
def test_labelled_grid_is_the_unlabelled_one_scaled_with_a_text_margin(channels, size):
    images = random_images(12, channels, size)
    labels = ["0", "shape=circle, colour=red", "a big red ring on a blue square"]
    plain = grid_image(images, columns=4)
    labelled = grid_image(images, columns=4, row_labels=labels)
    scale, margin, margin_pixels, image_part = split_margin(labelled, plain)
    assert margin > 8 and labelled.mode == plain.mode
    assert size * scale >= ROW_LABEL_MIN_PX  # rows tall enough for the text
    assert scale == max(1, -(-ROW_LABEL_MIN_PX // size))  # no larger than needed either
    expected = plain.resize((plain.width * scale, plain.height * scale), Image.Resampling.NEAREST)
    assert np.array_equal(image_part, np.asarray(expected))
    background = margin_pixels.reshape(-1, margin_pixels.shape[-1]).max(0) if channels == 3 else margin_pixels.max()
    ink_per_row = []
    for row in range(3):
        top, bottom = (1 + row * (size + 1)) * scale, (1 + row * (size + 1) + size) * scale
        band = margin_pixels[top:bottom]
        ink_per_row.append(bool((band != background).any()))
    assert ink_per_row == [True, True, True], "every row's label is drawn beside that row"


def test_long_labels_are_cut_so_the_margin_stays_narrow():
    images = random_images(4, 1, 8)
    plain = grid_image(images, columns=2)
    short = grid_image(images, columns=2, row_labels=["shape=circle", "shape=square"])
    long = grid_image(images, columns=2, row_labels=["word " * 40, "x" * 200])
    _, short_margin, _, _ = split_margin(short, plain)
    _, long_margin, _, _ = split_margin(long, plain)
    assert short_margin < long_margin <= 3 * short_margin  # ~30 characters a line at most, not 200
    assert long.height <= 8 * plain.height  # two lines at most: the rows do not grow to hold 200 characters


def test_unlabelled_png_is_unchanged_and_labels_must_match_the_rows(tmp_path):
    images = random_images(10, 1, 8)
    path = save_images(images, tmp_path / "grid.png", columns=4)
    before = io.BytesIO()
    Image.fromarray(to_uint8_image(make_grid(images, 4))).save(before, format="PNG")
    assert path.read_bytes() == before.getvalue()
    with pytest.raises(ValueError, match="2 labels for a grid of 3 rows"):
        save_images(images, tmp_path / "bad.png", columns=4, row_labels=["a", "b"])


def test_rlgen_sample_and_the_training_grid_label_each_condition(tmp_path, capsys):
    run = train("cgan", build_config(CGANConfig, {}, TINY_CGAN), tmp_path / "run")
    out = tmp_path / "rows.png"
    assert main(["sample", str(run), "--columns", "4", "--out", str(out)]) == 0
    assert "rows: 0; 1; 2; 3; 4; 5; 6; 7; 8; 9" in capsys.readouterr().out  # full names still printed
    plain = Image.new("L", (4 * 9 + 1, 10 * 9 + 1))
    scale, margin, margin_pixels, _ = split_margin(Image.open(out), plain)
    assert scale == 3 and margin > 0 and (margin_pixels != 255).any()
    media = sorted((run / "media").glob("samples_grid_*.png"))
    assert media, "training logs its condition grid under media/"
    logged = Image.open(media[-1])
    assert logged.width > 3 * (8 * 9 + 1) and logged.height == 3 * (10 * 9 + 1)  # labelled, 8 columns
