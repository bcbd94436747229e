"""Configs: defaults, YAML, --set overrides, and the errors for bad keys and values."""

from __future__ import annotations

import pytest

from rlgen.classifier import ClassifierConfig
from rlgen.config import build_config, from_dict, load_yaml, save_yaml, to_dict
from rlgen.errors import ConfigError


def test_overrides_reach_nested_fields_with_their_types():
    cfg = build_config(
        ClassifierConfig,
        {"batch_size": 32},
        ["optim.lr=3e-4", "trainer.eval_every=50", "channels=16,32", "augment=false", "split=[0.8,0.1,0.1]"],
    )
    assert cfg.batch_size == 32
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.trainer.eval_every == 50
    assert cfg.channels == [16, 32]
    assert cfg.augment is False
    assert cfg.split == (0.8, 0.1, 0.1)


def test_a_partial_section_keeps_the_fields_own_defaults():
    from rlgen.agents.a2c import A2CConfig
    from rlgen.agents.ppo import PPOConfig

    # The CartPole presets and a file both name only some optim keys; the rest must come from
    # the algorithm's optim default (RMSprop for A2C, eps 1e-5 and grad_clip 0.5 on-policy),
    # not from the bare OptimConfig class.
    a2c = build_config(A2CConfig, {"optim": {"lr": 1e-3}}, ["env=CartPole-v1"])
    assert (a2c.optim.name, a2c.optim.lr, a2c.optim.eps, a2c.optim.grad_clip, a2c.optim.momentum) == (
        "rmsprop",
        1e-3,
        1e-5,
        0.5,
        0.0,
    )
    ppo = build_config(PPOConfig, {}, ["env=CartPole-v1"])
    assert (ppo.optim.lr, ppo.optim.schedule, ppo.optim.eps, ppo.optim.grad_clip) == (1e-3, "linear", 1e-5, 0.5)
    assert from_dict(PPOConfig, {"optim": {"eps": 1e-7}}).optim.grad_clip == 0.5


def test_unknown_key_lists_valid_keys_and_closest_match():
    with pytest.raises(ConfigError) as err:
        build_config(ClassifierConfig, {}, ["optim.lrr=0.1"])
    message = str(err.value)
    assert "unknown config key 'optim.lrr'" in message
    assert "weight_decay" in message  # the valid keys are listed
    assert "Did you mean 'optim.lr'?" in message


def test_unknown_key_in_yaml_file_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("batch_sise: 10\n")
    with pytest.raises(ConfigError, match="Did you mean 'batch_size'"):
        build_config(ClassifierConfig, load_yaml(path))


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("batch_size=big", "'batch_size': 'big' is not a valid int"),
        ("optim.lr=fast", "'optim.lr': 'fast' is not a valid float"),
        ("augment=maybe", "'augment': 'maybe' is not a valid bool"),
        ("optim.name=adamm", "not allowed. Did you mean 'adam'? Valid choices: sgd, rmsprop, adagrad, adam, adamw."),
        ("split=0.5,0.5", "expected 3 values"),
        ("optim=3", "is a section"),
        ("steps.x=3", "is a value, not a section"),
        ("novalue", "must look like key=value"),
    ],
)
def test_wrong_values_are_errors_naming_the_key(override, expected):
    with pytest.raises(ConfigError) as err:
        build_config(ClassifierConfig, {}, [override])
    assert expected in str(err.value)


def test_range_checks_in_post_init():
    with pytest.raises(ConfigError, match="cv_folds must be 0"):
        build_config(ClassifierConfig, {}, ["cv_folds=1"])
    with pytest.raises(ConfigError, match="trainer.log_every must be >= 1"):
        build_config(ClassifierConfig, {}, ["trainer.log_every=0"])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = build_config(ClassifierConfig, {}, ["optim.betas=[0.5,0.9]", "wandb.tags=a,b"])
    save_yaml(cfg, tmp_path / "config.yaml", extra={"algo": "classifier"})
    data = load_yaml(tmp_path / "config.yaml")
    assert data.pop("algo") == "classifier"
    again = from_dict(ClassifierConfig, data)
    assert to_dict(again) == to_dict(cfg)
    assert again.optim.betas == (0.5, 0.9)
    assert again.wandb.tags == ["a", "b"]


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(tmp_path / "list.yaml")
