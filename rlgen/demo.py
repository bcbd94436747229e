"""`python -m rlgen.demo`: what each of `make demo`'s runs reached, beside the README's figures.

Reads only the run directories (eval.json, summary.json), so it can be rerun at any time.
A figure the run missed is shown as missed, with the run to look into.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Reading = tuple[str, bool]  # (what the run reached, as text; whether it meets the README's figure)


@dataclass(frozen=True)
class Claim:
    """One figure the README gives for a demo run, and how to read it from the run."""

    run: str
    readme: str
    read: Callable[[dict[str, Any], dict[str, Any]], Reading]
    artifact: str = ""
    """A file the demo writes in the run, reported when the run has no eval.json."""


def _classifier(results: dict[str, Any], summary: dict[str, Any]) -> Reading:
    accuracy = float(results["test/accuracy"])
    return f"{accuracy:.1%} test accuracy", accuracy >= 0.97


def _tictactoe(results: dict[str, Any], summary: dict[str, Any]) -> Reading:
    first, second = results["as_first"]["losses"], results["as_second"]["losses"]
    games = results["games"]
    return f"{first} + {second} losses in {games} games (as 1st + 2nd)", first == 0 and second == 0


def _cgan(results: dict[str, Any], summary: dict[str, Any]) -> Reading:
    accuracy = float(results["metrics/conditional_accuracy"])
    return f"{accuracy:.1%} read right", accuracy >= 0.9


CLAIMS = (
    Claim("runs/demo-classifier-digits", "~99% test accuracy", _classifier),
    Claim("runs/demo-alphazero-tictactoe", "0 losses to minimax, either side", _tictactoe),
    Claim("runs/demo-cgan-mnist5k", "97.5% of digits read right", _cgan, artifact="digits.png"),
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def report(claims: tuple[Claim, ...] = CLAIMS, root: Path = Path(".")) -> list[dict[str, Any]]:
    """One row per claim: run, README figure, reached, met (True / False / None = not run), minutes."""
    rows = []
    for claim in claims:
        run = root / claim.run
        results, summary = _read_json(run / "eval.json"), _read_json(run / "summary.json")
        if results:
            reached, met = claim.read(results, summary)
        elif claim.artifact and (run / claim.artifact).exists():
            reached, met = f"see {claim.artifact} (rlgen eval measures)", None
        else:
            reached, met = "not run (no eval.json)", None
        elapsed = summary.get("elapsed_s")
        rows.append(
            {
                "run": claim.run,
                "readme": claim.readme,
                "reached": reached,
                "met": met,
                "minutes": None if elapsed is None else float(elapsed) / 60,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from rlgen.device import native_bf16

    root = Path(argv[0]) if argv else Path(".")
    table = Table(title="make demo: what each run reached on this machine")
    for column in ("run", "README says", "this machine", "", "min"):
        table.add_column(column)
    rows = report(root=root)
    for row in rows:
        mark = {True: "[green]met[/]", False: "[red]MISSED[/]", None: "-"}[row["met"]]
        minutes = "-" if row["minutes"] is None else f"{row['minutes']:.1f}"
        table.add_row(row["run"].removeprefix("runs/demo-"), row["readme"], row["reached"], mark, minutes)
    console = Console()
    console.print(table)
    if torch.cuda.is_available():
        search = "bf16 on CUDA"
    elif native_bf16(torch.device("cpu")):
        search = "bf16 (this CPU has AVX512-BF16 or AMX)"
    else:
        search = "fp32 (this CPU has no AVX512-BF16: slower, see the README)"
    console.print(f"AlphaZero's search ran in {search}. Figures and their commands: docs/BENCHMARKS.md")
    missed = [row["run"] for row in rows if row["met"] is False]
    if missed:
        console.print(f"[red]missed:[/] {', '.join(missed)} (their eval.json and metrics.jsonl say more)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
