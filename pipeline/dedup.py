"""Exact and near-duplicate detection for example texts.

Texts are compared after `schema.normalize_text`. Exact duplicates are found by hash; near duplicates by MinHash
signatures over word 3-grams (datasketch), indexed with LSH at a Jaccard threshold. (How much a candidate copies
its nearest seed is `pipeline.similarity`'s measure, not this one.)

It leaves out semantic similarity (embeddings): two paraphrases with different words are not duplicates here.
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from dataclasses import dataclass

from pipeline.schema import normalize_text

NUM_PERM = 64
SCHEME = "affine32"


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of the normalized text, punctuation left out."""
    return _WORD.findall(normalize_text(text))


def shingles(text: str) -> set[bytes]:
    """Word 3-grams of the normalized text, punctuation ignored (the words themselves below 3 words)."""
    found = words(text)
    if len(found) < 3:
        return {w.encode() for w in found}
    return set(map(str.encode, map(" ".join, zip(found, found[1:], found[2:], strict=False))))


@functools.cache
def _permutations(num_perm: int):
    # Drawing the random permutations is most of a MinHash's cost; they depend only on num_perm and seed.
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, scheme=SCHEME).permutations


def signature(text: str, num_perm: int = NUM_PERM):  # -> datasketch.MinHash
    from datasketch import MinHash

    # crc32 is C-fast and the same in every process, unlike hash(); datasketch wants a 32-bit hash.
    sig = MinHash(num_perm=num_perm, hashfunc=zlib.crc32, permutations=_permutations(num_perm), scheme=SCHEME)
    sig.update_batch(list(shingles(text)))
    return sig


@dataclass(frozen=True)
class Duplicate:
    """The entry an input duplicates, and how similar they are (1.0 for an exact duplicate)."""

    key: str
    similarity: float
    exact: bool = False


class DuplicateIndex:
    """Texts added under a key; `find` answers whether a new text duplicates one of them."""

    def __init__(self, threshold: float, num_perm: int = NUM_PERM) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self._exact: dict[str, str] = {}
        # The LSH bands are tuned below the threshold so that pairs just above it are rarely missed; every
        # candidate is then checked against the threshold itself.
        self._lsh = MinHashLSH(threshold=max(0.3, threshold - 0.15), num_perm=num_perm)
        self._signatures: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    @staticmethod
    @functools.lru_cache(maxsize=8)  # one candidate's text is looked up, added and compared with the seeds in a row
    def _digest(text: str) -> str:
        return hashlib.blake2b(normalize_text(text).encode(), digest_size=16).hexdigest()

    def find(self, text: str, sig=None) -> Duplicate | None:
        """The most similar indexed entry at or above the threshold, or None."""
        exact = self._exact.get(self._digest(text))
        if exact is not None:
            return Duplicate(exact, 1.0, exact=True)
        sig = sig if sig is not None else signature(text, self.num_perm)
        best: Duplicate | None = None
        # The index answers in set order, which changes with the hash seed: equal similarities go to the
        # smallest key, so a reject names the same neighbour on every run.
        for key in sorted(self._lsh.query(sig)):
            similarity = sig.jaccard(self._signatures[key])
            if similarity >= self.threshold and (best is None or similarity > best.similarity):
                best = Duplicate(key, round(similarity, 3))
        return best

    def add(self, key: str, text: str, sig=None) -> None:
        sig = sig if sig is not None else signature(text, self.num_perm)
        self._exact.setdefault(self._digest(text), key)
        if key not in self._signatures:
            self._signatures[key] = sig
            self._lsh.insert(key, sig)

    def add_if_new(self, key: str, text: str) -> Duplicate | None:
        """Add the text unless it duplicates an entry; return that entry when it does."""
        sig = signature(text, self.num_perm)
        duplicate = self.find(text, sig)
        if duplicate is None:
            self.add(key, text, sig)
        return duplicate
