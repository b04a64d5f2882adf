"""`--with-fake-model`: `tests/llm_server.py`'s chat-completions server, in this process.

Before each case's model call, one good reply is queued: the envelope of
`fixtures/llm/good.json` (usage, cost, model) with a message whose label is the
case's expected label and whose ops note states the case's facts. The model
path (prompt, HTTP, JSON parsing, gate, Explanation row, notes applied) is
exercised end to end, but the label accuracy and note completeness it yields
measure the plumbing and the canned replies, not a model; the report says so.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

from ai_eval_parts.cases import Case
from ai_eval_parts.environment import ROOT


class FakeModel:
    def __init__(self) -> None:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))  # the repository's tests package
        from tests.llm_server import LLMServer, canned

        self.server = LLMServer().start()
        self.template = canned("good")
        # Environment first: the settings are read once, when Django sets up.
        os.environ.update(
            AI_PROVIDER_BASE_URL=self.server.url,
            AI_API_KEY="",
            AI_MODEL="openai/gpt-4o-mini",
            AI_TIMEOUT_SECONDS="5",
            AI_RETRY_MAX_ATTEMPTS="1",
        )

    def queue_for(self, case: Case) -> None:
        """Exactly one reply waits for the case's call (leftovers are dropped)."""
        reply = copy.deepcopy(self.template)
        content = {
            "label": case.expected_label,
            "confidence": 0.86,
            "ops_note": ops_note(case),
            "client_note": f"Your order {case.order_id} needs a little more time; we are on it.",
            "root_cause": f"Canned reply for {case.id}.",
            "recommended_actions": [case.facts[-1].any_of[0]],
        }
        body: dict[str, Any] = reply.body
        body["choices"][0]["message"]["content"] = json.dumps(content)
        with self.server._lock:
            self.server.replies.clear()
        self.server.queue_reply(reply)

    def stop(self) -> None:
        self.server.stop()


def ops_note(case: Case) -> str:
    """A note that states each fact in its first accepted wording."""
    parts = [f"{fact.name}: {fact.any_of[0]}" for fact in case.facts]
    return f"Canned analysis of order {case.order_id} — " + "; ".join(parts) + "."
