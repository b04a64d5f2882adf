"""The progress bar of the demo commands: rich on stderr, quiet when captured.

Off a terminal rich draws nothing while running and prints the finished bar once
at the end, so a log or a captured stderr gets one plain line, not carriage
returns and escape codes. `force_terminal` is decided here from the file itself,
not by FORCE_COLOR in the environment, for that reason.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def on_terminal(file: TextIO) -> bool:
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(file: TextIO, *, show: bool, unit: str | None) -> Progress:
    """A bar with "n/total <unit>" when `unit` is given; a no-op when not `show`."""
    counted: list[ProgressColumn] = (
        [MofNCompleteColumn(), TextColumn(unit), TaskProgressColumn()] if unit else []
    )
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *counted,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=file, force_terminal=on_terminal(file)),
        disable=not show,
    )
