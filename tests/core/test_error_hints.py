"""Error hints point the right way: the suggestion first, full dotted config keys, SB3 names,
short choice lists with where to see them all, and run paths that do not exist."""

from __future__ import annotations

import dataclasses
import re

import pytest

from rlgen.agents.a2c import A2CConfig
from rlgen.agents.dqn import DQNConfig
from rlgen.agents.ppo import PPOConfig
from rlgen.agents.sb3 import SB3Config
from rlgen.classifier import ClassifierConfig
from rlgen.cli import main
from rlgen.config import RunConfig, aliases, build_config, config_keys, from_dict
from rlgen.errors import ConfigError, RunDirError, UnknownNameError, close_matches, list_command, unknown_name
from rlgen.registry import ALGOS, get_algo


def config_error(cls: type, overrides: list[str], file_data: dict | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        build_config(cls, file_data, overrides)
    return str(err.value)


# ----------------------------------------------------------------------------- config keys


@pytest.mark.parametrize(
    ("override", "suggested"),
    [
        ("optim.lrr=1", "optim.lr"),  # a typo inside a section names the full key
        ("lr=1", "optim.lr"),  # a section's key given at the top is found in its section
        ("grad_clip=1", "optim.grad_clip"),
        ("trainer.lr=1", "optim.lr"),  # a key put in the wrong section
        ("optm.lr=1", "optim.lr"),  # a typo in the section name
        ("batch_sise=8", "batch_size"),
    ],
)
def test_unknown_key_suggests_the_full_dotted_key_from_every_section(override, suggested):
    message = config_error(PPOConfig, [override])
    key = override.split("=")[0]
    assert message.startswith(f"unknown config key '{key}' for PPOConfig. Did you mean '{suggested}'? Valid keys: ")
    assert message.endswith(".")


def test_unknown_key_lists_the_section_keys_with_their_prefix_after_the_suggestion():
    message = config_error(PPOConfig, ["optim.lrr=1"])
    suggestion, listed = message.split(" Valid keys: ")
    assert "Did you mean 'optim.lr'?" in suggestion
    assert listed.rstrip(".").split(", ")[:3] == ["optim.name", "optim.lr", "optim.momentum"]


def test_unknown_key_in_a_nested_file_section_names_the_full_key():
    message = config_error(PPOConfig, [], {"optim": {"lrr": 0.01}})
    assert message.startswith("unknown config key 'optim.lrr' for PPOConfig. Did you mean 'optim.lr'?")


def test_sb3_learning_rate_on_ppo_names_the_key_and_the_fix_with_the_value():
    assert config_error(PPOConfig, ["learning_rate=1e-3"]) == (
        "unknown config key 'learning_rate' for PPOConfig. SB3's learning_rate is 'optim.lr' here: --set optim.lr=1e-3."
    )
    assert "SB3's max_grad_norm is 'optim.grad_clip' here: --set optim.grad_clip=0.7." in config_error(
        PPOConfig, ["max_grad_norm=0.7"]
    )


def test_sb3_name_in_a_config_file_says_what_to_write_there():
    message = config_error(PPOConfig, [], {"learning_rate": 0.001})
    assert message.endswith("SB3's learning_rate is 'optim.lr' here: write optim: {lr: 0.001} in the config file.")


def test_algorithm_configs_map_their_own_sb3_names():
    assert "SB3's net_arch is 'hidden' here: --set hidden=[128,128]." in config_error(DQNConfig, ["net_arch=[128,128]"])
    assert "SB3's net_arch is 'hidden' here" in config_error(PPOConfig, ["net_arch=[32]"])
    assert "SB3's n_envs is 'num_envs' here: --set num_envs=4." in config_error(PPOConfig, ["n_envs=4"])
    assert "SB3's rms_prop_eps is 'optim.eps' here" in config_error(A2CConfig, ["rms_prop_eps=1e-5"])
    sb3 = config_error(get_algo("sb3:PPO").Config, ["learning_rate=1e-3"])
    assert "SB3's learning_rate is 'algo_kwargs.learning_rate' here: --set algo_kwargs.learning_rate=1e-3." in sb3


def test_an_sb3_name_counts_only_where_its_target_key_exists():
    assert "learning_rate" in aliases(PPOConfig)
    assert "net_arch" not in aliases(ClassifierConfig)  # no `hidden` there
    assert aliases(SB3Config)["learning_rate"] == "algo_kwargs.learning_rate"  # its own entry wins
    assert "max_grad_norm" not in aliases(SB3Config)  # no optim section: an ordinary unknown key
    assert "SB3's" not in config_error(SB3Config, ["max_grad_norm=1"])


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_every_declared_sb3_name_points_at_a_real_key(name):
    for klass in get_algo(name).Config.__mro__:
        if klass is RunConfig:  # the shared entries count only where their key exists, by design
            continue
        for sb3_name, target in vars(klass).get("ALIASES", {}).items():
            assert aliases(klass).get(sb3_name) == target, f"{klass.__name__}: '{sb3_name}' -> no key '{target}'"
            assert sb3_name not in {f.name for f in dataclasses.fields(klass)}, f"'{sb3_name}' is a real key"


def test_renamed_keys_still_name_the_new_key():
    assert config_error(PPOConfig, ["fused_loss=true"]) == (
        "config key 'fused_loss' was renamed to 'manual_grad'; use manual_grad instead"
    )


def test_valid_configs_are_built_as_before():
    config = build_config(PPOConfig, {"optim": {"lr": 1e-3}}, ["num_envs=4", "optim.grad_clip=0.3"])
    assert (config.optim.lr, config.optim.eps, config.optim.grad_clip, config.num_envs) == (1e-3, 1e-5, 0.3, 4)
    assert from_dict(PPOConfig, {}) == PPOConfig()
    assert "optim.lr" in config_keys(PPOConfig) and "trainer.log_every" in config_keys(PPOConfig)


# ----------------------------------------------------------------------------- names


def test_unknown_name_puts_the_suggestion_first_and_ends_sentences():
    message = str(unknown_name("game", "conect4", ["tictactoe", "connect4", "gomoku"]))
    assert message == "unknown game 'conect4'. Did you mean 'connect4'? Valid choices: connect4, gomoku, tictactoe."
    assert str(unknown_name("game", "chess", ["tictactoe"])) == "unknown game 'chess'. Valid choices: tictactoe."


def test_matching_ignores_case():
    assert close_matches("cartpole", ["Acrobot-v1", "CartPole-v1", "Pendulum-v1"])[0] == "CartPole-v1"
    assert str(unknown_name("game", "TicTacToe", ["tictactoe", "gomoku"])).startswith(
        "unknown game 'TicTacToe'. Did you mean 'tictactoe'?"
    )


def test_kind_says_which_list_command_shows_every_choice():
    assert list_command("algorithm") == "rlgen list algos"
    assert list_command("stable-baselines3 algorithm") == "rlgen list algos"
    assert list_command("gymnasium environment") == "rlgen list envs"
    assert list_command("game or gymnasium env for qlearning") == "rlgen list envs"
    assert list_command("dataset") == "rlgen list datasets"
    assert list_command("bandit env_kwargs key") == ""
    assert list_command("activation") == ""


def test_long_lists_show_close_matches_first_then_a_count():
    choices = [f"Env{i:02d}-v0" for i in range(40)] + ["CartPole-v0", "CartPole-v1"]
    message = str(unknown_name("env", "cartpole", choices))
    listed = message.split("Valid choices: ")[1].split(", ... and ")[0].split(", ")
    assert len(listed) == 12 and listed[:2] == ["CartPole-v1", "CartPole-v0"]
    assert message.endswith(f"... and {len(choices) - 12} more (rlgen list envs).")
    assert "more (" not in str(unknown_name("activation", "x", [f"a{i}" for i in range(20)]))  # no command lists them


def test_unknown_gymnasium_env_is_short_and_points_at_the_env_list():
    from rlgen.agents.gym_support import make_env

    with pytest.raises(UnknownNameError) as err:
        make_env("cartpole")
    message = str(err.value)
    assert message.startswith("unknown gymnasium environment 'cartpole'. Did you mean 'CartPole-v1'? Valid choices: ")
    assert re.search(r"\.\.\. and \d+ more \(rlgen list envs\)\.$", message)
    assert len(message) < 400


def test_train_with_an_unknown_env_fails_fast_with_the_short_message(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--env", "cartpole", "--wandb", "disabled", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'CartPole-v1'?" in err and "more (rlgen list envs)." in err and len(err) < 400
    assert not run.exists()


# ----------------------------------------------------------------------------- run paths


@pytest.mark.parametrize("command", ["eval", "resume"])
def test_a_missing_run_path_says_it_does_not_exist(tmp_path, capsys, command):
    missing = tmp_path / "no" / "such" / "run"
    assert main([command, str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"run directory '{missing}' does not exist" in err and "config.yaml" not in err


def test_a_missing_run_path_suggests_a_run_next_to_it(tmp_path):
    import rlgen

    (tmp_path / "ppo-CartPole-v1-1").mkdir()
    with pytest.raises(RunDirError, match=r"does not exist\. Did you mean '.*ppo-CartPole-v1-1'\?"):
        rlgen.load_run(tmp_path / "ppo-CartPole-v1-2")


def test_a_folder_without_config_yaml_says_so_and_names_the_runs_in_it(tmp_path, capsys):
    import rlgen

    assert main(["eval", str(tmp_path)]) == 2
    assert f"'{tmp_path}' is not a run directory (no config.yaml); give the folder" in capsys.readouterr().err
    (tmp_path / "run-a").mkdir()
    (tmp_path / "run-a" / "config.yaml").write_text("algo: classifier\n")
    with pytest.raises(RunDirError, match=r"no config.yaml\); it holds the runs .*run-a; give one of them\."):
        rlgen.load_run(tmp_path)
