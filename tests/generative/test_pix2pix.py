"""pix2pix: a step trains both networks, exact resume, sampling from condition images
(Python API and `rlgen sample`), clear errors, and a colorize learning floor on shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import assert_same_state
from PIL import Image

from rlgen.checkpoint import load_checkpoint
from rlgen.cli import main
from rlgen.config import build_config
from rlgen.errors import ConfigError
from rlgen.generative import load_generator
from rlgen.generative.pix2pix import Pix2Pix, Pix2PixConfig, luma, psnr
from rlgen.run import train
from rlgen.trainer import Trainer

DATA = "shapes:n=120"
TINY = [
    "channels=8",
    "max_channels=32",
    "d_channels=8",
    "batch_size=8",
    "eval_samples=8",
    "metric_samples=16",
    "grid_columns=4",
    "metrics=false",
    "wandb.mode=disabled",
    "trainer.progress=off",
    "trainer.log_every=1",
    "trainer.eval_every=2",
    "trainer.checkpoint_every=2",
]


def tiny(*extra: str) -> Pix2PixConfig:
    return build_config(Pix2PixConfig, {}, [f"data={DATA}", *TINY, *extra])


def test_a_step_trains_both_networks(tmp_path):
    trainer = Trainer(tiny(), tmp_path)
    algo = Pix2Pix(trainer.config, trainer)
    before = {name: {k: v.clone() for k, v in m.state_dict().items()} for name, m in trainer.models.items()}
    metrics = algo.train_step()
    for name, model in trainer.models.items():
        changed = [
            k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[name][k])
        ]
        assert changed, f"{name} did not change"
    for key in ("losses/d", "losses/g_l1", "losses/g_gan", "charts/d_real_accuracy"):
        assert np.isfinite(metrics[key]), key
    assert 0.0 <= metrics["charts/d_fake_accuracy"] <= 1.0
    # The input of colorize is the ITU-R 601 luma of the target.
    target, source = algo.next_batch()
    assert source.shape == (8, 1, 32, 32) and target.shape == (8, 3, 32, 32)
    assert torch.allclose(source, 0.299 * target[:, :1] + 0.587 * target[:, 1:2] + 0.114 * target[:, 2:])


def test_l1_falls_on_a_tiny_set(tmp_path):
    run = train(
        "pix2pix",
        tiny("steps=40", "trainer.eval_every=40", "trainer.checkpoint_every=40", "g_optim.lr=3e-3", "d_optim.lr=3e-3"),
        tmp_path / "run",
    )
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    l1 = [r["losses/g_l1"] for r in rows if "losses/g_l1" in r]
    assert len(l1) == 40
    assert np.mean(l1[-5:]) < 0.6 * np.mean(l1[:5])


def test_resume_is_exact_including_ema_and_noise(tmp_path):
    """6 steps in one go == 3 steps + `rlgen resume` to 6: same weights, EMA and optimizer."""
    extra = ["noise=dropout", "gan_loss=hinge", "d_norm=spectral", "ema_decay=0.9"]
    whole = train("pix2pix", tiny("steps=6", *extra), tmp_path / "whole")
    half = train("pix2pix", tiny("steps=3", *extra), tmp_path / "half")
    assert main(["resume", str(half), "--steps", "6"]) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(half / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 6
    for section in ("models", "emas", "optimizers"):  # both networks' Adam moments and schedules
        assert_same_state(a[section], b[section], section)
    steps = [
        json.loads(line)["step"] for line in (half / "metrics.jsonl").read_text().splitlines() if "losses/d" in line
    ]
    assert steps == list(range(1, 7))


@pytest.fixture(scope="module")
def outline_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("outline") / "run"
    return train("pix2pix", tiny("task=outline", "steps=2", "noise=dropout"), path)


def test_sample_from_condition_images(outline_run, tmp_path):
    generator = load_generator(outline_run)
    assert generator.condition_kind == "image"
    data = generator.algorithm.splits.test
    outline = data.extras["outline"][:1]
    path = tmp_path / "outline.png"
    Image.fromarray((outline[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    images = generator.sample(5, condition=path)
    assert images.shape == (5, 3, 32, 32) and float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    from_tensor = generator.sample(5, condition=outline[0])  # [C, H, W] in [0, 1] works too
    assert torch.allclose(images, from_tensor, atol=0.05)
    # Dropout noise is seeded: the same seed repeats, another seed differs.
    assert torch.equal(generator.sample(3, condition=path, seed=1), generator.sample(3, condition=path, seed=1))
    assert not torch.equal(generator.sample(3, condition=path, seed=1), generator.sample(3, condition=path, seed=2))
    batch = generator.sample(4, condition=data.extras["outline"][:4])
    assert batch.shape == (4, 3, 32, 32)
    assert generator.sample(3).shape == (3, 3, 32, 32)  # no condition: inputs from the test split
    images, names = generator.grid(columns=4)
    assert images.shape == (3 * 2 * 4, 3, 32, 32) and len(names) == 4
    assert list((outline_run / "media").glob("samples_grid_*.png"))


def test_sample_cli_writes_png_and_refuses_bad_inputs(outline_run, tmp_path, capsys):
    generator = load_generator(outline_run)
    good = tmp_path / "in.png"
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(good)
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "sample",
                str(outline_run),
                "--condition-image",
                str(good),
                "--n",
                "4",
                "--columns",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert Image.open(out).size == (4 * 33 + 1, 33 + 1)
    wrong = tmp_path / "wrong.png"
    Image.fromarray(np.zeros((16, 20, 3), dtype=np.uint8)).save(wrong)
    assert main(["sample", str(outline_run), "--condition-image", str(wrong), "--out", str(out)]) == 2
    assert "is 20x16; the model takes 32x32" in capsys.readouterr().err
    assert main(["sample", str(outline_run), "--condition-image", str(tmp_path / "none.png"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sample", str(outline_run), "--out", str(out)]) == 2
    assert "translates images" in capsys.readouterr().err
    assert main(["sample", str(outline_run), "--condition-image", str(good), "--interpolate", "--out", str(out)]) == 2
    assert "no latent space" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"C, H, W = \(3, 32, 32\)"):
        generator.sample(2, condition=torch.rand(1, 32, 32))
    with pytest.raises(ConfigError, match="takes an image"):
        generator.algorithm.spec.parse("a red circle")


def test_clear_errors_for_data_the_task_cannot_use(tmp_path):
    with pytest.raises(ConfigError, match=r"task 'outline' needs outline images \(extras\['outline'\]\)"):
        Pix2Pix(tiny("data=digits", "task=outline"), Trainer(tiny("data=digits"), tmp_path / "a"))
    with pytest.raises(ConfigError, match="task 'colorize' needs colour"):
        Pix2Pix(tiny("data=digits"), Trainer(tiny("data=digits"), tmp_path / "b"))
    with pytest.raises(ConfigError, match="condition must be 'image'"):
        tiny("condition=label")
    with pytest.raises(ConfigError, match="depth 6 does not fit 32x32"):
        Pix2Pix(tiny("depth=6"), Trainer(tiny(), tmp_path / "c"))
    with pytest.raises(ConfigError, match="choices: nonsaturating, lsgan, hinge"):
        tiny("gan_loss=wgan")


def test_report_adds_reference_classifier_metrics(outline_run, tmp_path):
    """Test L1/PSNR always; with a reference classifier, Frechet distance vs the targets and
    the attribute accuracy of the outputs (a quickly trained classifier stands in here)."""
    from rlgen.generative.metrics import reference_classifier

    generator = load_generator(outline_run)
    algo = generator.algorithm
    algo.config.metrics = True
    algo._reference = reference_classifier(DATA, cache_dir=tmp_path, overrides=["steps=3", "trainer.eval_every=3"])
    results = algo.report()
    _, output, target = algo.translate("test", algo.config.metric_samples)
    assert results["metrics/l1"] == pytest.approx(float((output - target).abs().mean()), abs=1e-6)
    assert np.isfinite(results["metrics/psnr"]) and results["metrics/frechet_real"] > 0
    assert 0.0 <= results["metrics/conditional_accuracy/colour"] <= 1.0
    assert 0.0 <= results["metrics/conditional_accuracy/shape"] <= 1.0
    # The targets scored as if they were outputs: no distance to themselves.
    perfect = algo.reference_metrics(target)
    assert perfect["metrics/frechet"] < 1e-3 * results["metrics/frechet"], (perfect, results)
    # The luma helper matches Pillow's grayscale conversion, used for --condition-image files.
    rgb = torch.rand(1, 3, 4, 4)
    pil = Image.fromarray((rgb[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).convert("L")
    expected = torch.tensor(np.asarray(pil), dtype=torch.float32) / 255
    assert torch.allclose(luma((rgb * 255).round() / 255)[0, 0], expected, atol=1.5 / 255)


@pytest.mark.slow
def test_colorize_learns_the_colours_of_shapes(tmp_path):
    """Default config, 400 generator steps (under 2 minutes): on test shapes the output's
    colour inside the shape is the true one (nearest of the six palette colours; chance is
    1/6) in >= 95% of images, and PSNR >= 28 dB (the gray input itself scores ~20 dB, as
    the backgrounds are gray; a per-pixel luma -> colour lookup fitted on the train split ~28.5 dB)."""
    from rlgen.generative.datasets import COLOURS

    cfg = build_config(
        Pix2PixConfig,
        {},
        ["steps=400", "metrics=false", "wandb.mode=disabled", "trainer.progress=off", "trainer.eval_every=0"],
    )
    run = train("pix2pix", cfg, tmp_path / "run")
    results = json.loads((run / "eval.json").read_text())
    generator = load_generator(run)
    test = generator.algorithm.splits.test
    count = 500
    output = generator.sample(count, condition=luma(test.x[:count]))
    palette = torch.tensor(list(COLOURS.values()))
    colour = list(test.factors).index("colour")
    # Pixels of the shape's own colour in the target: the shape's inside, whatever its form.
    truth = palette[test.attributes[:count, colour]]
    inside = ((test.x[:count] - truth[:, :, None, None]).abs().amax(1) < 0.02).float()
    assert bool((inside.flatten(1).sum(1) > 4).all())
    mean_colour = (output * inside[:, None]).sum((2, 3)) / inside.sum((1, 2))[:, None]
    predicted = torch.cdist(mean_colour, palette).argmin(1)
    accuracy = float((predicted == test.attributes[:count, colour]).float().mean())
    assert accuracy >= 0.95, accuracy
    assert results["metrics/psnr"] >= 28.0, results
    gray = luma(test.x[:count]).expand(-1, 3, -1, -1)
    assert results["metrics/psnr"] > float(psnr(gray, test.x[:count]).mean()) + 6.0
