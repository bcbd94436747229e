"""`python -m rlgen.demo`: the table `make demo` ends with reads each run and marks missed figures."""

from __future__ import annotations

import json

from rlgen.demo import CLAIMS, main, report


def _write(root, run: str, results: dict, elapsed_s: float = 90.0) -> None:
    folder = root / run
    folder.mkdir(parents=True)
    (folder / "eval.json").write_text(json.dumps(results))
    (folder / "summary.json").write_text(json.dumps({"elapsed_s": elapsed_s}))


def test_each_demo_run_is_read_and_a_missed_figure_is_marked(tmp_path, capsys):
    classifier, tictactoe, cgan = (claim.run for claim in CLAIMS)
    _write(tmp_path, classifier, {"test/accuracy": 0.99})
    side = {"wins": 0, "draws": 100}
    _write(tmp_path, tictactoe, {"opponent": "minimax", "games": 200, "as_first": {**side, "losses": 0},
                                 "as_second": {**side, "losses": 3}})  # fmt: skip
    rows = {row["run"]: row for row in report(root=tmp_path)}
    assert rows[classifier]["met"] is True and rows[classifier]["minutes"] == 1.5
    assert rows[tictactoe]["met"] is False and "0 + 3 losses in 200 games (as 1st + 2nd)" in rows[tictactoe]["reached"]
    assert rows[cgan]["met"] is None and "not run" in rows[cgan]["reached"]
    (tmp_path / cgan).mkdir(parents=True)
    (tmp_path / cgan / "digits.png").write_bytes(b"")
    assert "see digits.png" in report(root=tmp_path)[2]["reached"]
    (tmp_path / cgan / "eval.json").write_text(json.dumps({"metrics/conditional_accuracy": 0.975}))
    assert report(root=tmp_path)[2]["met"] is True
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MISSED" in out and "alphazero-tictactoe" in out.split("missed:")[1]
