"""A pytest plugin: SIGTERM unwinds the test run like Ctrl-C.

Many fixtures start servers and workers in sessions of their own (so a Ctrl-C in the terminal
does not hit them half-way), and only the fixture's `finally` stops them. A SIGTERM (a CI
timeout, `timeout`, `kill`) would end pytest without running those blocks and leave the
processes running with no parent; raised as KeyboardInterrupt, it runs every teardown first.
"""

from __future__ import annotations

import signal
import threading


def _unwind(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_configure() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _unwind)
