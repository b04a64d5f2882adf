"""The fault matrix's bookkeeping: one row per fault, and `docs/RELIABILITY.md` built from them.

Every fault test under `tests/reliability/` ends by calling `record()` with what it
sent, what the database holds afterwards and how the senders were answered. The
rows are kept in `docs/reliability-rows.json` (one entry per fault, replaced by the
next run of that fault; committed beside the report, so a fresh clone has them),
and at the end of a session that recorded any (the root conftest.py) the report is
written again from every row on file, so a run of one fault keeps the others' last
figures. The report is the run's own words: nothing in it is typed by hand.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS_FILE = ROOT / "docs" / "reliability-rows.json"
REPORT = ROOT / "docs" / "RELIABILITY.md"

# Faults recorded in this session: the root conftest rewrites the report when any were.
RECORDED: list[str] = []


@dataclass(frozen=True, slots=True)
class FaultRow:
    """What one fault run found.

    `sent` counts the distinct events (or jobs) offered; `stored` the distinct ones
    the database holds afterwards; `doubled` the rows found twice where one was due
    (events, exceptions, activity, notifications, explanations, action attempts,
    invoice lines: whatever the fault could double); `lost` = sent − stored.
    `answers` counts the HTTP statuses the senders saw, retries included.
    `recovery_seconds`: from the fault's end until the system was whole again (the
    last event stored, the backlog worked off); None where nothing had to recover.
    """

    fault: str
    what_was_done: str
    sent: int
    stored: int
    doubled: int
    answers: dict[str, int] = field(default_factory=dict)
    recovery_seconds: float | None = None
    notes: str = ""
    # Hostile input: what was sent should be refused, so `stored` counts what got
    # through anyway (0 is right) and nothing can be "lost".
    refused: bool = False
    recorded_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    @property
    def lost(self) -> int:
        return 0 if self.refused else self.sent - self.stored

    @property
    def ok(self) -> bool:
        if self.refused:
            return self.stored == 0 and self.doubled == 0
        return self.lost == 0 and self.doubled == 0


def _rows_data() -> dict[str, dict]:
    return json.loads(ROWS_FILE.read_text()) if ROWS_FILE.exists() else {}


def record(row: FaultRow) -> Path:
    """Keep the row for the report; printed too, so the run's log says what it found."""
    rows = _rows_data()
    rows[row.fault] = {**asdict(row), "lost": row.lost}
    ROWS_FILE.parent.mkdir(parents=True, exist_ok=True)
    ROWS_FILE.write_text(json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    RECORDED.append(row.fault)
    print(
        f"\n[fault] {row.fault}: sent {row.sent}, stored {row.stored}, doubled {row.doubled}, "
        f"lost {row.lost}, answers {dict(sorted(row.answers.items()))}, "
        f"recovery {row.recovery_seconds if row.recovery_seconds is not None else '-'} s"
    )
    return ROWS_FILE


def rows_on_file() -> list[FaultRow]:
    rows = []
    for _fault, data in sorted(_rows_data().items(), key=lambda item: item[0].lower()):
        data.pop("lost", None)
        rows.append(FaultRow(**data))
    return rows


def _answers(answers: dict[str, int]) -> str:
    return ", ".join(f"{status}: {n:,}" for status, n in sorted(answers.items())) or "-"


def render(rows: list[FaultRow]) -> str:
    lines = [
        "# Reliability: the fault matrix",
        "",
        "Written by `make proof` (`tests/reliability/`): each fault test starts its own",
        "PostgreSQL cluster, Redis and worker processes on private ports, breaks one of",
        "them for real (no mocks), and counts what the database holds afterwards. Do not",
        "edit by hand: run `make proof` (or one test under `tests/reliability/`) again.",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}.",
        "",
        "| fault | what the test did | sent | stored | doubled | lost "
        "| answers (HTTP status: count) | recovery | run |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for row in rows:
        recovery = "-" if row.recovery_seconds is None else f"{row.recovery_seconds:.1f} s"
        stored = f"{row.stored:,}*" if row.refused else f"{row.stored:,}"
        lost = "n/a" if row.refused else f"{row.lost:,}"
        lines.append(
            f"| {row.fault} | {row.what_was_done} | {row.sent:,} | {stored} | "
            f"{row.doubled:,} | {lost} | {_answers(row.answers)} | {recovery} | "
            f"{row.recorded_at} |"
        )
    if any(row.refused for row in rows):
        lines += [
            "",
            "\\* Hostile input: `sent` counts requests, `stored` the rows that input meant"
            " to be refused left behind (0 is right), and nothing can be lost.",
        ]
    notes = [row for row in rows if row.notes]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- **{row.fault}**: {row.notes}" for row in notes]
    return "\n".join(lines) + "\n"


def write_report() -> Path:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(render(rows_on_file()))
    return REPORT
