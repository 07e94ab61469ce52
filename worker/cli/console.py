"""One way to make a rich console: readable tables in a terminal, a pipe, a log or CI."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

# Rich assumes 80 columns when output is not a terminal, which folds organisation names over
# several lines in logs and CI output; 120 keeps each row on one line.
PIPE_WIDTH = 120


def make_console(**kwargs: Any) -> Console:
    """A console that prints text as it is: no Rich markup, no :emoji: codes.

    What we show (subjects, names, reasons, addresses) comes from untrusted mail and CSV
    files; a subject containing "[/draft]" must print as written, not crash or restyle the
    output. Style with `style=` or rich.text.Text, never with markup in strings; a caller
    printing only its own text may pass markup=True.
    """
    kwargs.setdefault("markup", False)
    kwargs.setdefault("emoji", False)
    console = Console(**kwargs)
    if not console.is_terminal and "COLUMNS" not in os.environ and "width" not in kwargs:
        console = Console(width=PIPE_WIDTH, **kwargs)
    return console
