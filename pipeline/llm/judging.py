"""What every LLM judge in ftboot sends: a conversation written out as the judge reads it, and one greedy, seeded
request, so a rerun asks the very same thing and the reply cache answers it.

Shared by the candidate judge (`pipeline.generation.judge`, a 1-5 score) and the pairwise eval judge
(`pipeline.eval.judge`); what the judge is asked and how its reply is read stay with each of them.
"""

from __future__ import annotations

from typing import Any

from pipeline.llm.request import CHAT, Endpoint, PlannedRequest
from pipeline.schema import content_text


def transcript(messages: list[dict[str, Any]]) -> str:
    """A conversation as a judge reads it: one `[role] text` line per turn, the system prompt left out."""
    return "\n".join(f"[{m['role']}] {content_text(m.get('content'))}" for m in messages if m.get("role") != "system")


def ask(endpoint: Endpoint, system: str, text: str, max_tokens: int) -> PlannedRequest:
    """A judge's request: greedy and seeded, so a rerun asks the very same thing and the cache answers it."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    return PlannedRequest(
        CHAT,
        endpoint.model,
        {"messages": messages},
        {"temperature": 0.0, "max_tokens": max_tokens, "seed": 0},
        "judge",
        endpoint.label,
    )
