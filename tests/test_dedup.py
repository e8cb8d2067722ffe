"""The duplicate index names the same neighbour whatever the process's hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

FIND = """
from pipeline.dedup import DuplicateIndex
index = DuplicateIndex(0.8)
# Different texts with one set of word 3-grams: equally similar to the candidate.
for key in ("zeta", "mu", "theta"):
    index.add(key, " ".join(["a b c d"] * {"zeta": 2, "mu": 3, "theta": 4}[key]))
print(index.find("a b c d a b c d a b").key)
"""


def test_equally_similar_neighbours_resolve_to_the_same_key_under_every_hash_seed():
    found = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", FIND], env=env, capture_output=True, text=True, check=True)
        found.add(out.stdout.strip())
    assert found == {"mu"}
