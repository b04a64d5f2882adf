"""A follow-up handler registered for one test, the way an app registers its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orders import followups


@contextmanager
def followup_registered(
    name: str, handler: followups.FollowUp, *, rank: int = followups.ANALYSIS + 1
) -> Iterator[None]:
    """Run `handler` as a follow-up inside the block (after the apps' own by default)."""
    followups.register(name, handler, rank=rank)
    try:
        yield
    finally:
        followups.unregister(name)
