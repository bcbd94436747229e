"""The `rlgen` command line: list, train, resume, eval, tune."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from rlgen.distributed import current, launched_by_torchrun
from rlgen.errors import RlgenError

WANDB_MODES = ("auto", "online", "offline", "disabled")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("algo", help="algorithm name (rlgen list algos)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--env", help="environment id (rlgen list envs)")
    src.add_argument("--data", help="dataset name (rlgen list datasets)")
    p.add_argument("--config", help="YAML file of config values")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="training length in the algorithm's unit")
    budget.add_argument(
        "--minutes",
        type=float,
        help="wall-clock budget; training stops at it or at the config's steps, whichever comes first",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument(
        "--wandb", choices=WANDB_MODES, help="W&B mode (default auto: online with credentials, else offline)"
    )
    p.add_argument("--wandb-project")
    p.add_argument("--wandb-entity")
    p.add_argument("--wandb-group")
    p.add_argument("--tags", help="comma-separated W&B tags")


def _add_nproc(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes on this machine: starts `torchrun --standalone --nproc_per_node=N` "
        "(dataset algorithms; for several nodes run torchrun yourself, see the README)",
    )


def _launch_torchrun(argv: list[str], nproc: int) -> int:
    """Run this same command under torchrun with `nproc` processes; returns its exit code."""
    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            rest.append(item)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.call([*command, "-m", "rlgen.cli", *rest])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlgen", description="rlgen: RL and generative-models lab")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list algorithms, environments or datasets")
    p.add_argument("what", nargs="?", default="all", choices=("all", "algos", "envs", "datasets"))

    p = sub.add_parser("train", help="train an algorithm into a new run directory")
    _add_run_options(p)
    p.add_argument("--run-dir", help="run directory (default runs/<algo>-<env|data>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    _add_nproc(p)

    p = sub.add_parser("resume", help="continue a run from its last checkpoint")
    p.add_argument("run_dir")
    _add_nproc(p)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--steps", type=int, help="a new TOTAL: train until the run's step counter reaches N (e.g. 3000 after 1500)"
    )
    budget.add_argument(
        "--minutes", type=float, help="MORE time: train for M minutes from now (this session's wall-clock budget)"
    )

    p = sub.add_parser("eval", help="evaluate a run's best checkpoint; prints and writes eval.json")
    p.add_argument("run_dir")
    p.add_argument("--opponent", help="opponent name (game agents)")
    p.add_argument("--games", type=int, help="number of games (game agents)")
    p.add_argument("--episodes", type=int, help="number of episodes (RL agents)")
    p.add_argument(
        "--sims",
        type=int,
        help="MCTS simulations per move (search agents; default: the run's play_simulations or eval_simulations)",
    )
    p.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        default="best",
        help="weights to evaluate: best.pt (the default) or last.pt (the end of training)",
    )

    p = sub.add_parser("play", help="play against a trained game agent in the terminal")
    p.add_argument("run_dir")
    p.add_argument("--human-first", action="store_true", help="you move first")
    p.add_argument("--sims", type=int, help="agent's MCTS simulations per move")

    p = sub.add_parser("serve", help="a local web page: play game runs, sample generative runs, browse runs")
    p.add_argument("roots", nargs="*", default=["runs"], help="run folders or folders of runs (default: runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser("sample", help="draw images from a trained generative model into a PNG grid")
    p.add_argument("run_dir")
    p.add_argument("--condition", help="class, 'factor=value,...' or a caption (conditional models)")
    p.add_argument("--condition-image", help="input image file (image-to-image models)")
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--out", required=True, help="output PNG file")
    p.add_argument("--seed", type=int, help="noise seed (default: the run's seed)")
    p.add_argument("--interpolate", action="store_true", help="rows of latent interpolations instead of samples")
    p.add_argument("--columns", type=int, default=8, help="images per row")

    p = sub.add_parser("tune", help="hyper-parameter search with Optuna; each trial is a run directory")
    _add_run_options(p)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--sampler", choices=("random", "tpe", "gp"), default="tpe")
    p.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=SPEC",
        help="search range: KEY=LOW:HIGH[:log|:int] or KEY=a,b,c (default: the algorithm's space)",
    )
    p.add_argument("--run-dir", help="study directory (default runs/tune-<algo>-<data|env>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true")
    return parser


def config_from_args(args: argparse.Namespace) -> tuple[str, Any]:
    """The algorithm name and its validated config from train/tune arguments."""
    from rlgen.config import build_config, load_yaml
    from rlgen.errors import ConfigError
    from rlgen.registry import get_algo

    cls = get_algo(args.algo)
    file_data = load_yaml(args.config) if args.config else {}
    overrides = list(args.overrides)
    fields = {f for f in cls.Config.__dataclass_fields__}
    for option in ("env", "data"):
        value = getattr(args, option)
        if value is None:
            continue
        if option not in fields:
            other = "env" if option == "data" else "data"
            raise ConfigError(f"algorithm '{args.algo}' takes --{other}, not --{option}")
        overrides.append(f"{option}={value}")
    for option in ("steps", "minutes", "seed", "device"):
        if getattr(args, option) is not None:
            overrides.append(f"{option}={getattr(args, option)}")
    for option, key in (
        ("wandb", "mode"),
        ("wandb_project", "project"),
        ("wandb_entity", "entity"),
        ("wandb_group", "group"),
    ):
        if getattr(args, option) is not None:
            overrides.append(f"wandb.{key}={getattr(args, option)}")
    if args.tags:
        overrides.append(f"wandb.tags={args.tags}")
    config = build_config(cls.Config, file_data, overrides)
    _check_source(cls, config)
    return args.algo, config


def _check_source(cls: Any, config: Any) -> None:
    """Fail early, listing choices, when the dataset named is not registered."""
    if cls.input_kind == "data" and hasattr(config, "data"):
        from rlgen.data import DATASETS
        from rlgen.errors import unknown_name

        name = config.data
        if ":" not in name and name not in DATASETS:
            raise unknown_name("dataset", name, list(DATASETS))


def cmd_list(what: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from rlgen.registry import algo_names, dataset_catalog, env_catalog, get_algo

    console = Console()
    if what in ("all", "algos"):
        table = Table(title="algorithms (rlgen train ALGO)")
        for col in ("name", "input", "--steps counts", "description"):
            table.add_column(col)
        for name in algo_names():
            cls = get_algo(name)
            table.add_row(name, f"--{cls.input_kind}", cls.unit, cls.description)
        console.print(table)
    if what in ("all", "datasets"):
        table = Table(title="datasets (--data)")
        table.add_column("name")
        table.add_column("description")
        for name, desc in dataset_catalog().items():
            table.add_row(name, desc)
        console.print(table)
    if what in ("all", "envs"):
        table = Table(title="environments (--env)")
        table.add_column("name")
        table.add_column("description")
        catalog = env_catalog()
        for name, desc in catalog.items():
            table.add_row(name, desc)
        table.add_row(
            "any gymnasium id",
            "e.g. CartPole-v1, Taxi-v4, HalfCheetah-v5 "
            "(all: python -c 'import gymnasium; gymnasium.pprint_registry()')",
        )
        console.print(table)


def cmd_sample(args: argparse.Namespace) -> None:
    """`rlgen sample`: a grid of samples for one condition, one row per condition, or interpolations."""
    from rlgen.errors import ConfigError
    from rlgen.generative import load_generator
    from rlgen.generative.base import save_images

    if args.condition is not None and args.condition_image is not None:
        raise ConfigError("give --condition or --condition-image, not both")
    if args.n < 1 or args.columns < 1:
        raise ConfigError(f"--n and --columns must be >= 1, got {args.n} and {args.columns}")
    generator = load_generator(args.run_dir)
    condition = args.condition_image if args.condition_image is not None else args.condition
    row_labels: list[str] | None = None
    if args.interpolate:
        images = generator.interpolate(
            steps=args.columns, rows=max(1, args.n // args.columns), condition=condition, seed=args.seed
        )
    elif condition is None and generator.condition_kind not in ("none", "image"):
        images, row_labels = generator.grid(seed=args.seed, columns=args.columns)
        print("rows: " + "; ".join(row_labels))  # in full: the labels drawn beside the rows may be cut short
    else:
        if generator.condition_kind == "image" and condition is None:
            raise ConfigError(f"this model translates images: {generator.accepts}")
        images = generator.sample(args.n, condition=condition, seed=args.seed)
    path = save_images(images, args.out, columns=args.columns, row_labels=row_labels)
    print(f"wrote {path} ({len(images)} images)")


def _print_results(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="evaluation")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)):
            table.add_row(key, str(value))
        elif isinstance(value, dict) and all(isinstance(v, (int, float, str)) for v in value.values()):
            for sub, v in value.items():
                table.add_row(f"{key}.{sub}", f"{v:.4f}" if isinstance(v, float) else str(v))
    console = Console()
    console.print(table)
    for key, value in results.items():  # nested per-class tables, e.g. test/report.per_class
        rows = value.get("per_class") if isinstance(value, dict) else None
        if isinstance(rows, dict) and rows:
            columns = list(next(iter(rows.values())))
            sub = Table(title=f"{key}: per class")
            sub.add_column("class")
            for col in columns:
                sub.add_column(col, justify="right")
            for name, cells in rows.items():
                sub.add_row(
                    str(name), *(f"{cells[c]:.4f}" if isinstance(cells[c], float) else str(cells[c]) for c in columns)
                )
            console.print(sub)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if getattr(args, "nproc", 1) < 1:
        print(f"rlgen: error: --nproc must be >= 1, got {args.nproc}", file=sys.stderr)
        return 2
    if getattr(args, "nproc", 1) > 1 and not launched_by_torchrun():
        return _launch_torchrun(argv, args.nproc)
    try:
        if args.command == "list":
            cmd_list(args.what)
        elif args.command == "train":
            from rlgen.run import train

            algo, config = config_from_args(args)
            run_dir = train(algo, config, args.run_dir, overwrite=args.overwrite)
            if current().is_main:
                print(f"run directory: {run_dir}")
        elif args.command == "resume":
            from rlgen.run import resume

            run_dir = resume(args.run_dir, steps=args.steps, minutes=args.minutes)
            if current().is_main:
                print(f"run directory: {run_dir}")
        elif args.command == "eval":
            from rlgen.run import evaluate

            options = {
                k: getattr(args, k) for k in ("opponent", "games", "episodes", "sims") if getattr(args, k) is not None
            }
            results = evaluate(args.run_dir, checkpoint=args.checkpoint, **options)
            _print_results(results)
            print(f"wrote {Path(args.run_dir) / 'eval.json'}")
        elif args.command == "play":
            from rlgen.agents.play import play_terminal

            play_terminal(args.run_dir, human_first=args.human_first, simulations=args.sims)
        elif args.command == "serve":
            from rlgen.serve import serve

            serve(args.roots, host=args.host, port=args.port)
        elif args.command == "sample":
            cmd_sample(args)
        elif args.command == "tune":
            from rlgen.tune import tune

            algo, config = config_from_args(args)
            tune(
                algo,
                config,
                trials=args.trials,
                sampler=args.sampler,
                params=args.params,
                study_dir=args.run_dir,
                overwrite=args.overwrite,
            )
    except RlgenError as exc:
        print(f"rlgen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command in ("train", "resume", "tune"):
            print("rlgen: interrupted; the last checkpoint is kept (rlgen resume RUN_DIR continues)", file=sys.stderr)
        else:
            print(f"rlgen: {args.command} interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
