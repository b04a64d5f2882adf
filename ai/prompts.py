"""Rendering the versioned prompt files under `prompts/` into chat messages.

Sandboxed (a template is code, and a later admin may edit them) with
`StrictUndefined`: a fact the template names but the context lacks raises, so a
prompt never silently loses a line. Each file has a `system` and a `user` block;
its sha256 is stored with every Explanation made from it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_VERSIONED = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.j2$")

_env = SandboxedEnvironment(
    loader=FileSystemLoader(PROMPTS_DIR),
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    name: str
    version: int
    sha256: str
    messages: list[dict[str, str]]


@lru_cache(maxsize=32)
def latest_version(name: str) -> int:
    """The highest `<name>.v<N>.j2` there is."""
    versions = [
        int(match["version"])
        for path in PROMPTS_DIR.glob(f"{name}.v*.j2")
        if (match := _VERSIONED.match(path.name)) and match["name"] == name
    ]
    if not versions:
        raise LookupError(f"no prompt file {name}.v<N>.j2 under {PROMPTS_DIR}")
    return max(versions)


@lru_cache(maxsize=32)
def _file_hash(filename: str) -> str:
    return hashlib.sha256((PROMPTS_DIR / filename).read_bytes()).hexdigest()


def render_prompt(name: str, context: dict[str, Any], version: int | None = None) -> RenderedPrompt:
    """The system and user messages of a prompt version (default: the latest)."""
    version = version or latest_version(name)
    filename = f"{name}.v{version}.j2"
    template = _env.get_template(filename)
    messages = []
    for role in ("system", "user"):
        block = template.blocks[role]
        text = "".join(block(template.new_context(context))).strip()
        messages.append({"role": role, "content": text})
    return RenderedPrompt(name, version, _file_hash(filename), messages)
