"""Rulesets: what a fine-tuning target accepts, one small module per target.

A ruleset checks one example at a time (`check` returns its problems, each with a short code that summaries
count) and the set as a whole (`check_set`: enough examples, file size). `base.Ruleset` holds the rules every
chat target shares; a target's module subclasses it and adds or changes what differs. Register a new target
in `TARGETS`.
"""

from __future__ import annotations

import importlib

from pipeline.errors import InputError
from pipeline.rules.base import Problem, Ruleset

TARGETS = {
    "openai": "pipeline.rules.openai:OpenAIRules",
    "together": "pipeline.rules.together:TogetherRules",
    "fireworks": "pipeline.rules.fireworks:FireworksRules",
    "vertex": "pipeline.rules.vertex:VertexRules",
    "bedrock": "pipeline.rules.bedrock:BedrockRules",
}

__all__ = ["TARGETS", "Problem", "Ruleset", "get_ruleset"]


def get_ruleset(name: str) -> Ruleset:
    """The ruleset for a target name, e.g. "openai"."""
    if name not in TARGETS:
        raise InputError(f"unknown target {name!r}; known: {', '.join(sorted(TARGETS))}")
    module, _, attr = TARGETS[name].partition(":")
    return getattr(importlib.import_module(module), attr)()
