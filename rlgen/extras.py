"""Optional dependencies: import them with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from rlgen.errors import MissingExtraError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import `module`, or raise MissingExtraError naming `pip install "rlgen[extra]"`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the optional package '{module.split('.')[0]}', which is not "
            f'installed ({exc}). Install it with: pip install "rlgen[{extra}]"'
        ) from exc
