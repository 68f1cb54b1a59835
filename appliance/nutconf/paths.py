"""Where NUT's files live: the config directory and the state directory, as NUT resolves them."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG_DIR = "/etc/nut"
DEFAULT_STATE_DIR = "/run/nut"


def config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config-dir`` if given, else ``$NUT_CONFPATH``, else /etc/nut."""
    return Path(explicit or os.environ.get("NUT_CONFPATH") or DEFAULT_CONFIG_DIR)


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path (``STATEPATH``/``statepath``) if given, else ``$NUT_STATEPATH``, else /run/nut."""
    return Path(explicit or os.environ.get("NUT_STATEPATH") or DEFAULT_STATE_DIR)
