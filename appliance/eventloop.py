"""Running the daemons' asyncio loop: uvloop when it is installed (it halves upsd's per-request overhead), else
the standard loop. uvloop ships prebuilt wheels for x86-64 and arm64, so no compiler is needed on a Pi."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the fastest loop available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
