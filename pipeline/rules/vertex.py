"""Vertex AI's supervised tuning rules for Gemini: an optional system instruction, then user and model turns
alternating, starting with the user and ending with the model (its `contents`), text only (`base.TextTurnsRules`).
Left out: Vertex's per-model limits on example length and count, which it checks itself when the job starts.
"""

from __future__ import annotations

from pipeline.rules.base import TextTurnsRules


class VertexRules(TextTurnsRules):
    name = "vertex"
    label = "Vertex AI"
