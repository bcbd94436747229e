"""Datasets: a user's npz / IDX / image-folder files, `shapes`, `animal`, routing and errors."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest
import torch
from conftest import needs_extra, run_cli
from PIL import Image

from rlgen import data
from rlgen.data import GENERATIVE_SPLIT, load_dataset, make_splits, register_dataset
from rlgen.errors import ConfigError, MissingExtraError, UnknownNameError
from rlgen.generative.datasets import (
    ANIMAL_INSTALL,
    BACKGROUNDS,
    COLOURS,
    FACTORS,
    attributes_to_caption,
    caption_to_attributes,
    shapes,
)

RNG = np.random.default_rng(0)

# ----------------------------------------------------------------------------- npz


@pytest.mark.parametrize(
    "layout",
    ["NHW uint8", "NHWC3 uint8", "NCHW3 float", "NHWC1 float", "NCHW1 int64"],
)
def test_npz_layouts_and_value_ranges_become_float_nchw_in_unit_range(tmp_path, layout):
    dims, kind = layout.split()
    channels = 3 if "3" in dims else 1
    hwc = RNG.integers(0, 256, size=(5, 6, 7, channels)).astype(np.uint8)  # the true pictures, 0-255
    expected = torch.from_numpy(hwc.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    array = {
        "NHW": hwc[..., 0],
        "NHWC3": hwc,
        "NHWC1": hwc,
        "NCHW3": hwc.transpose(0, 3, 1, 2),
        "NCHW1": hwc.transpose(0, 3, 1, 2),
    }[dims]
    array = {"uint8": array, "float": array.astype(np.float32) / 255.0, "int64": array.astype(np.int64)}[kind]
    path = tmp_path / "images.npz"
    np.savez(path, x=array, y=np.array([0, 1, 2, 1, 0]))
    ds = load_dataset(f"npz:{path}")
    assert ds.x.dtype == torch.float32 and tuple(ds.x.shape) == (5, channels, 6, 7)
    assert torch.allclose(ds.x, expected, atol=1e-6)
    assert ds.y.tolist() == [0, 1, 2, 1, 0] and ds.classes == ["0", "1", "2"]
    assert ds.name == f"npz:{path}"


def test_npz_without_labels_is_one_class_and_string_labels_are_named(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 8, 8), np.uint8))
    ds = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert ds.y.tolist() == [0, 0, 0, 0] and ds.classes == ["all"]
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 8, 8), np.uint8), y=np.array(["dog", "cat", "dog"]))
    ds = load_dataset(f"npz:{tmp_path / 'b.npz'}")
    assert ds.classes == ["cat", "dog"] and ds.y.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 8, 8))}, r"no array named 'x' \(found \['images'\]\)"),
        ({"x": np.zeros((2, 8))}, r"must be \[N, H, W\], \[N, H, W, C\] or \[N, C, H, W\].*got shape \(2, 8\)"),
        ({"x": np.zeros((2, 5, 8, 8))}, r"neither 1 nor 3 channels"),
        ({"x": np.zeros((3, 8, 8)), "y": np.zeros(2, np.int64)}, r"3 images but 2 labels"),
        ({"x": np.zeros((3, 8, 8)), "y": np.zeros((3, 2), np.int64)}, r"labels must be one value per image"),
        ({"x": np.full((2, 8, 8), 255.0)}, r"float images must lie in \[0, 1\].*\[255, 255\]"),
        ({"x": np.full((2, 8, 8), 300)}, r"integer images must lie in 0-255"),
    ],
)
def test_npz_errors_say_what_is_wrong(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ConfigError, match=message):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_npz_missing_or_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"file '.*nope.npz' does not exist"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")
    (tmp_path / "junk.npz").write_bytes(b"not an archive at all")
    with pytest.raises(ConfigError, match=r"not a readable .npz archive.*np.savez"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    np.save(tmp_path / "single.npy", np.zeros((2, 8, 8)))
    with pytest.raises(ConfigError, match="single array, not an .npz archive"):
        load_dataset(f"npz:{tmp_path / 'single.npy'}")
    with pytest.raises(ConfigError, match="needs a path after the colon"):
        load_dataset("npz:")


# ----------------------------------------------------------------------------- IDX


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    """The MNIST IDX layout: 0, 0, type code 0x08 (ubyte), ndim, big-endian int32 dims, data."""
    raw = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes() + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_reads_train_then_t10k_gzipped_or_not(tmp_path, compress):
    train_x, test_x = RNG.integers(0, 256, (6, 5, 4)), RNG.integers(0, 256, (3, 5, 4))
    train_y, test_y = np.array([0, 1, 2, 3, 4, 9]), np.array([7, 8, 0])
    write_idx(tmp_path / "train-images-idx3-ubyte", train_x, compress)
    write_idx(tmp_path / "train-labels-idx1-ubyte", train_y, compress)
    ds = load_dataset(f"idx:{tmp_path}")
    assert tuple(ds.x.shape) == (6, 1, 5, 4) and ds.y.tolist() == train_y.tolist()
    assert ds.classes == [str(i) for i in range(10)]
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test_x, compress)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", test_y, compress)
    ds = load_dataset(f"idx:{tmp_path}")
    assert tuple(ds.x.shape) == (9, 1, 5, 4)
    assert ds.y.tolist() == train_y.tolist() + test_y.tolist()
    expected = np.concatenate([train_x, test_x]).astype(np.float32) / 255
    assert np.allclose(ds.x[:, 0].numpy(), expected)


def test_idx_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(f"idx:{tmp_path / 'missing'}")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"no train-images-idx3-ubyte\[.gz\].*found: notes.txt"):
        load_dataset(f"idx:{tmp_path}")
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 3, 3)), False)
    with pytest.raises(ConfigError, match="no train-labels-idx1-ubyte"):
        load_dataset(f"idx:{tmp_path}")
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5), False)
    with pytest.raises(ConfigError, match="has 4 images but 'train-labels-idx1-ubyte' 5 labels"):
        load_dataset(f"idx:{tmp_path}")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ConfigError, match="not an IDX file"):
        load_dataset(f"idx:{tmp_path}")
    with pytest.raises(ConfigError, match="is a file; idx: needs a directory"):
        load_dataset(f"idx:{tmp_path / 'notes.txt'}")


# ----------------------------------------------------------------------------- image folders


def save_png(path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def test_folder_classes_from_subfolders_grayscale_or_rgb(tmp_path):
    cat, dog = RNG.integers(0, 256, (2, 6, 5)), RNG.integers(0, 256, (6, 5))
    save_png(tmp_path / "gray" / "cat" / "a.png", cat[0])
    save_png(tmp_path / "gray" / "cat" / "b.png", cat[1])
    save_png(tmp_path / "gray" / "dog" / "c.png", dog)
    (tmp_path / "gray" / "dog" / "README.txt").write_text("not an image: ignored")
    ds = load_dataset(f"folder:{tmp_path / 'gray'}")
    assert tuple(ds.x.shape) == (3, 1, 6, 5) and ds.classes == ["cat", "dog"] and ds.y.tolist() == [0, 0, 1]
    assert np.allclose(ds.x[:, 0].numpy(), np.stack([cat[0], cat[1], dog]) / 255, atol=1e-6)

    colour = RNG.integers(0, 256, (6, 5, 3))
    save_png(tmp_path / "mixed" / "a" / "gray.png", cat[0])
    save_png(tmp_path / "mixed" / "b" / "rgb.png", colour)
    ds = load_dataset(f"folder:{tmp_path / 'mixed'}")
    assert tuple(ds.x.shape) == (2, 3, 6, 5)
    assert np.allclose(ds.x[1].numpy(), colour.transpose(2, 0, 1) / 255, atol=1e-6)
    assert np.allclose(ds.x[0].numpy(), np.stack([cat[0]] * 3) / 255, atol=1e-6)  # gray promoted to RGB


def test_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    save_png(tmp_path / "flat" / "loose.png", np.zeros((4, 4)))
    with pytest.raises(ConfigError, match="no class sub-folders.*own sub-folder"):
        load_dataset(f"folder:{tmp_path / 'flat'}")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"class folder '.*cat' holds no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    save_png(tmp_path / "sizes" / "a" / "1.png", np.zeros((4, 4)))
    save_png(tmp_path / "sizes" / "b" / "2.png", np.zeros((4, 6)))
    with pytest.raises(ConfigError, match=r"'.*2.png' is 6x4 while '.*1.png' is 4x4"):
        load_dataset(f"folder:{tmp_path / 'sizes'}")
    save_png(tmp_path / "broken" / "a" / "1.png", np.zeros((4, 4)))
    (tmp_path / "broken" / "a" / "2.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(ConfigError, match=r"cannot read image '.*2.png'"):
        load_dataset(f"folder:{tmp_path / 'broken'}")


# ----------------------------------------------------------------------------- routing


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'shapez'\. Did you mean 'shapes'\?.*npz:PATH"):
        load_dataset("shapez")
    with pytest.raises(ConfigError, match="dataset 'shapes' has no option 'colour'; valid options: size, n, seed"):
        load_dataset("shapes:colour=red")
    with pytest.raises(ConfigError, match="dataset 'shapes64' has no option 'size'; valid options: n, seed"):
        load_dataset("shapes64:size=32")
    with pytest.raises(ConfigError, match="must be key=value"):
        load_dataset("shapes:16")
    with pytest.raises(ConfigError, match="'digits' takes no options"):
        load_dataset("digits:n=3")
    with pytest.raises(ConfigError, match="size must be an integer >= 8, got 4"):
        load_dataset("shapes:size=4,n=2")
    with pytest.raises(ConfigError, match="n must be an integer >= 1, got 'many'"):
        load_dataset("shapes:n=many")


def test_register_dataset_accepts_callables_and_lazy_paths(monkeypatch):
    monkeypatch.setattr(data, "DATASETS", dict(data.DATASETS))
    register_dataset("tiny", lambda: shapes(size=8, n=3), "three tiny shapes")
    register_dataset("tiny_lazy", "rlgen.generative.datasets:shapes", "shapes, lazily")
    assert len(load_dataset("tiny")) == 3
    assert tuple(load_dataset("tiny_lazy:size=8,n=2").x.shape) == (2, 3, 8, 8)
    with pytest.raises(ConfigError, match="must not contain ':'"):
        register_dataset("a:b", lambda: shapes(n=1), "bad")


def test_list_datasets_shows_registered_and_prefixed_forms():
    out = run_cli("list", "datasets", env={"COLUMNS": "200"}).stdout
    for name in ("digits", "mnist5k", "animal", "shapes", "shapes64", "npz:PATH", "idx:DIR", "folder:DIR"):
        assert f" {name} " in out, name


# ----------------------------------------------------------------------------- shapes


def test_shapes_are_deterministic_per_seed_and_differ_across_seeds():
    a, b, c = shapes(size=16, n=40, seed=3), shapes(size=16, n=40, seed=3), shapes(size=16, n=40, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.attributes, b.attributes) and a.captions == b.captions
    assert torch.equal(a.extras["outline"], b.extras["outline"])
    assert not torch.equal(a.x, c.x) and not torch.equal(a.attributes, c.attributes)
    assert tuple(a.x.shape) == (40, 3, 16, 16) and tuple(a.extras["outline"].shape) == (40, 3, 16, 16)
    assert a.x.dtype == torch.float32 and float(a.x.min()) >= 0.0 and float(a.x.max()) <= 1.0
    assert torch.equal(a.y, a.attributes[:, 0]) and a.classes == FACTORS["shape"]
    assert list(a.factors) == ["shape", "colour", "size", "position", "background"]
    ds = load_dataset("shapes:size=24,n=10,seed=3")
    assert tuple(ds.x.shape) == (10, 3, 24, 24) and ds.name == "shapes:size=24,n=10,seed=3"


def test_every_caption_reads_back_to_its_attributes():
    ds = shapes(size=16, n=300, seed=1)
    for caption, row in zip(ds.captions, ds.attributes.tolist(), strict=True):
        expected = {factor: values[i] for (factor, values), i in zip(FACTORS.items(), row, strict=True)}
        assert caption_to_attributes(caption) == expected, caption
        assert attributes_to_caption(row) == caption
    assert ds.captions[0].startswith("a ") and " background" in ds.captions[0]


def test_partial_captions_and_caption_errors():
    assert caption_to_attributes("a large blue square") == {"shape": "square", "colour": "blue", "size": "large"}
    assert caption_to_attributes("A red shape at the top left.") == {"colour": "red", "position": "top left"}
    assert caption_to_attributes("a circle on a grey background") == {"shape": "circle", "background": "grey"}
    assert attributes_to_caption({"size": "small", "colour": 0}) == "a small red shape"
    assert caption_to_attributes(attributes_to_caption({"position": "centre"})) == {"position": "centre"}
    with pytest.raises(ConfigError, match=r"unknown word 'purple'.*colour: red, green, blue"):
        caption_to_attributes("a purple circle")
    with pytest.raises(ConfigError, match="'black' is a background: write '... on a black background'"):
        caption_to_attributes("a black circle")
    with pytest.raises(ConfigError, match="names the colour twice"):
        caption_to_attributes("a red blue circle")
    with pytest.raises(ConfigError, match="unknown position 'upstairs'.*top left"):
        caption_to_attributes("a circle at the upstairs")
    with pytest.raises(ConfigError, match="unknown background 'red'.*black, grey, white"):
        caption_to_attributes("a circle on a red background")
    with pytest.raises(ConfigError, match="unknown colour 'purple'; choices: red"):
        attributes_to_caption({"colour": "purple"})
    with pytest.raises(ConfigError, match="unknown shapes factor 'hue'; factors: shape, colour"):
        attributes_to_caption({"hue": "red"})
    with pytest.raises(ConfigError, match="expected 5 attribute indices"):
        attributes_to_caption([0, 1])


def test_pixels_match_colour_background_and_position_attributes():
    ds = shapes(size=32, n=400, seed=2)
    colours, backgrounds = torch.tensor(list(COLOURS.values())), torch.tensor(list(BACKGROUNDS.values()))
    large = (ds.attributes[:, 2] == FACTORS["size"].index("large")).nonzero().flatten()
    assert len(large) > 100
    rows, cols = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    for i in large.tolist():
        shape, colour, _, position, background = ds.attributes[i].tolist()
        image = ds.x[i]
        assert torch.allclose(image[:, 0, 0], backgrounds[background], atol=1e-5)  # a corner is background
        mask = (image - backgrounds[background][:, None, None]).abs().sum(0) > 0.1
        cy, cx = float((rows * mask).sum() / mask.sum()), float((cols * mask).sum() / mask.sum())
        assert torch.allclose(image[:, round(cy), round(cx)], colours[colour], atol=1e-5), ds.captions[i]
        # The centre of the shape's bounding box lies in the 3x3 cell the position names.
        ys, xs = mask.nonzero(as_tuple=True)
        box_y, box_x = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
        assert (int(box_y * 3 / 32), int(box_x * 3 / 32)) == divmod(position, 3), ds.captions[i]


def test_outline_is_a_thin_line_of_the_same_colour_on_the_same_background():
    ds = shapes(size=32, n=100, seed=5)
    backgrounds = torch.tensor(list(BACKGROUNDS.values()))[ds.attributes[:, 4]][:, :, None, None]
    filled_ink = (ds.x - backgrounds).abs().sum(1)
    outline_ink = (ds.extras["outline"] - backgrounds).abs().sum(1)
    assert torch.all(outline_ink.sum((1, 2)) < filled_ink.sum((1, 2))) and torch.all(outline_ink.sum((1, 2)) > 0)
    assert torch.all(outline_ink <= filled_ink + 1e-5)  # the line lies inside the filled shape
    large = ds.attributes[:, 2] == FACTORS["size"].index("large")
    coloured = (outline_ink[large] > 0.1).sum((1, 2)).float() / (filled_ink[large] > 0.1).sum((1, 2))
    assert float(coloured.max()) < 0.8  # large shapes are hollow
    # Every outline pixel mixes the shape's colour into the background: bg + t (colour - bg).
    contrast = torch.tensor(list(COLOURS.values()))[ds.attributes[:, 1]][:, :, None, None] - backgrounds
    offset = ds.extras["outline"] - backgrounds
    t = (offset * contrast).sum(1, keepdim=True) / (contrast**2).sum(1, keepdim=True)
    assert torch.allclose(offset, t * contrast, atol=1e-5)
    assert float(t.min()) >= -1e-6 and torch.all(t.flatten(1).max(1).values > 0.6)


def test_generative_split_is_stratified_70_10_20():
    ds = shapes(size=8, n=500, seed=0)
    train, dev, test = make_splits(ds)
    assert GENERATIVE_SPLIT == (0.7, 0.1, 0.2)
    for part, expected in zip((train, dev, test), (350, 50, 100), strict=True):
        assert abs(len(part) - expected) <= 5  # rounding, one class at a time
    assert test.captions == make_splits(ds)[2].captions  # fixed by the split seed
    per_class = ds.y.bincount(minlength=5)
    assert torch.all((test.y.bincount(minlength=5) - 0.2 * per_class).abs() <= 1)  # stratified by shape
    assert torch.equal(test.extras["outline"][:, :, 0, 0], test.x[:, :, 0, 0])  # extras follow their images


# ----------------------------------------------------------------------------- animal


@needs_extra("animal_mnist", install=ANIMAL_INSTALL)  # find_spec only: importing it would import TensorFlow
def test_animal_loads_10000_silhouettes_in_10_classes():
    ds = load_dataset("animal")
    assert tuple(ds.x.shape) == (10_000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.classes[:3] == ["bear", "bird", "cat"] and len(ds.classes) == 10
    assert ds.y.bincount().tolist() == [1000] * 10
    assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 1.0
    assert "tensorflow" not in sys.modules


def test_animal_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "animal_mnist", None)  # find_spec then reports it missing
    with pytest.raises(MissingExtraError, match="pip install --no-deps animal-mnist==0.4"):
        load_dataset("animal")
