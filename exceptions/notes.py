"""Rule-based notes: the catalogue's Jinja2 templates rendered from an exception's facts.

The environment is sandboxed (templates are edited in the admin) and undefined
names render as empty text rather than failing, so a template that mentions a
fact one detection rule does not provide still gives a readable note.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True)


@lru_cache(maxsize=256)
def _compiled(source: str):
    return _env.from_string(source)


def template_errors(source: str) -> str | None:
    """The syntax error of a template, or None when it compiles."""
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        return f"Line {exc.lineno}: {exc.message}"
    return None


def render_note(source: str, context: dict[str, Any]) -> str:
    """Render one template; a failure at render time gives the error, not a crash."""
    try:
        return _compiled(source).render(**context).strip()
    except Exception as exc:  # an operator-edited template must not break detection
        return f"[note template failed: {exc}]"
