"""The wheel installs every module of the four packages under the rlgen namespace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO

PACKAGE_DIRS = {"rlgen": "rlgen", "envs": "rlgen.envs", "agents": "rlgen.agents", "generative": "rlgen.generative"}


def source_files() -> dict[str, str]:
    """Every module of the four packages and their sub-packages (e.g. rlgen.agents.alphazero)
    -> the file the wheel must hold for it."""
    files = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            name = ".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)])
            files[name] = "/".join([*package.split("."), *parts]) + ".py"
    return files


def source_modules() -> list[str]:
    return list(source_files())


def test_wheel_contains_and_imports_every_module(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            "-q",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheel_dir.glob("rlgen-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set(source_files().values())
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel), "-q"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    script = (
        "import importlib, sys\n"
        f"target = {str(target)!r}\n"
        "sys.path.insert(0, target)\n"
        "sys.path = [p for p in sys.path if p not in ('', " + repr(str(REPO)) + ")]\n"
        "bad = []\n"
        f"for name in {source_modules()!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    if not module.__file__.startswith(target):\n"
        "        bad.append((name, module.__file__))\n"
        "assert not bad, bad\n"
        "print('ok', len(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
    assert Path(target / "rlgen" / "envs" / "__init__.py").exists()


def _install_commands(tmp_path: Path, *make_args: str) -> str:
    """The commands `make install` would run into a fresh venv (dry run: nothing is installed)."""
    proc = subprocess.run(
        ["make", "-n", "-B", "install", f"VENV={tmp_path / 'venv'}", *make_args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return proc.stdout


def test_make_install_takes_torch_from_the_index_the_user_names(tmp_path):
    default = _install_commands(tmp_path)
    assert 'pip install "torch==2.13.0"' in default and "--index-url" not in default
    cpu = _install_commands(tmp_path, "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert 'pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu' in cpu
    # the torch install comes before the package's own, so pip never picks torch for it
    assert cpu.index("torch==2.13.0") < cpu.index("pip install -e")
