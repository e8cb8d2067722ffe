"""Fireworks AI's fine-tuning rules: OpenAI's chat format (an optional per-message `weight` of 0 or 1 on assistant
turns, as the shared rules check), at least 3 examples, and Fireworks' default of 1 epoch. Preference sets use
OpenAI's preference schema, which the shared rules cover. Left out: per-model context lengths (Fireworks truncates
longer sequences to the job's `maxContextLength` rather than refusing them) and the 3-million-example ceiling.
"""

from __future__ import annotations

from pipeline.rules.base import Ruleset


class FireworksRules(Ruleset):
    name = "fireworks"
    min_examples = 3
    max_file_bytes = 1024**4  # larger files go through a signed URL; Fireworks documents no smaller cap

    def default_epochs(self, n: int) -> int:
        return 1
