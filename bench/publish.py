"""Run benchmarks and publish what they printed in docs/PERFORMANCE.md.

    .venv/bin/python bench/publish.py                # every benchmark (`make bench`)
    .venv/bin/python bench/publish.py ingest         # one; the others' sections stay

Each benchmark prints its measurements and ratios on standard output (progress goes to
standard error). This runs each one as a child process, passes its output through to
the terminal, and writes it as that benchmark's section of docs/PERFORMANCE.md: the
command, when it ran, how it ended, and the output verbatim. Nothing in a section is
typed by hand, and re-running one benchmark replaces only its own section. The top of
the page names the machine the figures were measured on.

A picture cannot show inside a code block, so a benchmark that draws one prints a line
`E2A_IMAGE <path from the repository root> <caption>`: that line is left out of the
block, and the image is shown after it, linked relative to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE = ROOT / "docs" / "PERFORMANCE.md"

# name → (what it measures, its arguments); in the order `make bench` runs them.
BENCHMARKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ingest": ("Ingestion at the HTTP door: single events and batches", ()),
    "pipeline": ("The whole pipeline: web and worker together, and POST → exception", ()),
    "soak": (
        "Soak: half the sustainable pipeline rate for ten minutes, memory over time",
        ("--plots", "docs/perf"),
    ),
    "sla_scan": ("The SLA scan's scaling and the SLA bookkeeping's cost to ingestion", ()),
    "console": ("The operator console's pages under load", ()),
    "billing": ("A month's invoice against a bare count of its events", ()),
    "detect_eval": ("Detection: a replayed week scored against what was made", ()),
    "ai_eval": ("The analyst's notes: labels, facts and fallbacks", ()),
}

HEADER = """# Performance

Written by `make bench` (`bench/publish.py`): every figure below is printed by the
benchmark named in its section, and every goal is a ratio to a baseline measured in the
same run, on the same machine, with the same tool. `bench/README.md` says how each
benchmark measures. Do not edit by hand: run the benchmark again.
"""


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}){memory}; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}"
        + (f"; PostgreSQL {postgres.split()[0]}" if postgres else "")
    )


IMAGE = re.compile(r"^E2A_IMAGE (\S+)(?: (.*))?$")


def split_images(out: str) -> tuple[str, list[str]]:
    """The output without its E2A_IMAGE lines, and those images as markdown, each linked
    relative to the page. An image the benchmark named but did not write is reported
    as missing rather than linked."""
    kept, images = [], []
    for line in out.splitlines():
        found = IMAGE.match(line.rstrip())
        if not found:
            kept.append(line)
            continue
        path, caption = ROOT / found.group(1), found.group(2) or Path(found.group(1)).name
        if path.is_file():
            images.append(f"![{caption}]({Path(os.path.relpath(path, PAGE.parent)).as_posix()})")
        else:
            images.append(f"*{caption}: {found.group(1)} was not written.*")
    return "\n".join(kept), images


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def section(name: str, command: str, started: datetime, seconds: float, code: int, out: str) -> str:
    title, _args = BENCHMARKS[name]
    ending = "finished" if code == 0 else f"exited with status {code}"
    begin, end = _markers(name)
    text, images = split_images(out)
    pictures = [line for image in images for line in ("", image)] + ([""] if images else [])
    return "\n".join(
        [
            begin,
            f"## {title}",
            "",
            f"`{command}`, {started:%Y-%m-%d %H:%M} UTC, {ending} after {seconds / 60:.1f} min.",
            "",
            "```",
            text.strip("\n"),
            "```",
            *pictures,
            end,
        ]
    )


def write_page(sections: dict[str, str]) -> None:
    """Replace the given sections, keep the others, in BENCHMARKS' order."""
    text = PAGE.read_text() if PAGE.exists() else ""
    kept: dict[str, str] = {}
    for name in BENCHMARKS:
        begin, end = _markers(name)
        found = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.S)
        if name in sections:
            kept[name] = sections[name]
        elif found:
            kept[name] = found.group(0)
    body = [HEADER, f"Machine of the last run: {machine()}.", ""]
    body += [kept[name] + "\n" for name in BENCHMARKS if name in kept]
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text("\n".join(body))


def run_one(name: str, extra: list[str]) -> tuple[str, int]:
    _title, args = BENCHMARKS[name]
    argv = [sys.executable, str(HERE / f"{name}.py"), *args, *extra]
    command = " ".join(["python", f"bench/{name}.py", *args, *extra])
    started, begun = datetime.now(UTC), time.monotonic()
    print(f"==> {command}", file=sys.stderr, flush=True)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # shown as it comes, kept for the page
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
    code = proc.wait()
    out = "".join(lines)
    return section(name, command, started, time.monotonic() - begun, code, out), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--args", default="", help="extra arguments for a single benchmark")
    opts = parser.parse_args()
    names = opts.names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if opts.args and len(names) != 1:
        parser.error("--args goes with exactly one benchmark")
    worst = 0
    for name in names:
        text, code = run_one(name, opts.args.split())
        write_page({name: text})  # after each one, so an interrupted run keeps what it had
        worst = max(worst, code)
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return worst


if __name__ == "__main__":
    sys.exit(main())
