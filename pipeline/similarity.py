"""How much a candidate copies a seed: cosine similarity of character n-gram TF-IDF vectors.

Character 3- to 5-grams inside words (punctuation and case ignored) catch shared phrasing that word shingles
miss: a paraphrase of a seed that keeps its facts and much of its wording scores high (about 0.5 and more), a new
example on another product scores low (about 0.1-0.2). IDF weights come from the seeds themselves, so what every
seed shares (the task's own vocabulary) counts for little. `SeedSimilarity.nearest` picks the seed with the
highest cosine; candidates record it and the value, and the reviewer sees both.

It leaves out duplicate detection (MinHash over word 3-grams, `pipeline.dedup`) and meaning (embeddings).
"""

from __future__ import annotations

import math
import re
from collections import Counter

from pipeline.schema import normalize_text

_WORD = re.compile(r"\w+")
SIZES = (3, 4, 5)
# A text's words mostly recur across candidates (Zipf): their grams are cut once, not once per candidate.
WORD_CACHE = 50_000
_WORD_GRAMS: dict[str, tuple[str, ...]] = {}


def char_ngrams(text: str) -> Counter[str]:
    """Counts of the character 3-, 4- and 5-grams of each word, padded with a space on either side."""
    grams: list[str] = []
    for word in _WORD.findall(normalize_text(text).lower()):
        found = _WORD_GRAMS.get(word)
        if found is None:
            if len(_WORD_GRAMS) >= WORD_CACHE:
                _WORD_GRAMS.clear()
            p = f" {word} "
            found = _WORD_GRAMS[word] = tuple(p[i : i + n] for n in SIZES for i in range(max(len(p) - n + 1, 1)))
        grams += found
    return Counter(grams)


class SeedSimilarity:
    """TF-IDF vectors of the seeds, and each candidate's nearest seed by cosine."""

    def __init__(self, seeds: dict[str, str]) -> None:
        counts = {key: char_ngrams(text) for key, text in seeds.items()}
        df: Counter[str] = Counter(g for grams in counts.values() for g in grams)
        n = len(counts)
        # smoothed IDF, as scikit-learn's default: a gram no seed has gets the highest weight
        self.idf = {g: math.log((1 + n) / (1 + d)) + 1 for g, d in df.items()}
        self.unseen = math.log(1 + n) + 1
        self.keys = list(counts)
        # an inverted index, gram → (seed, weight): a candidate's grams are looked up once, whatever the seeds
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for number, grams in enumerate(counts.values()):
            for g, w in self._vector(grams).items():
                self.postings.setdefault(g, []).append((number, w))

    def _weights(self, grams: Counter[str]) -> tuple[list[tuple[str, float]], float]:
        """Each gram's weight and the vector's norm. Sublinear term frequency: a gram repeated ten times is not
        ten times the evidence."""
        idf, unseen, log = self.idf.get, self.unseen, math.log
        weights = [(g, (1 + log(c)) * idf(g, unseen)) for g, c in grams.items()]
        return weights, math.sqrt(sum([w * w for _, w in weights])) or 1.0

    def _vector(self, grams: Counter[str]) -> dict[str, float]:
        weights, norm = self._weights(grams)
        return {g: w / norm for g, w in weights}

    def similarities(self, text: str) -> dict[str, float]:
        # Only the grams some seed has are looked at after the norm: at a candidate per reply item this is most of
        # screening's CPU, and a candidate's vector as a dict was a third of it.
        weights, norm = self._weights(char_ngrams(text))
        postings = self.postings.get
        scores = [0.0] * len(self.keys)
        for g, w in weights:
            if (seeds := postings(g)) is not None:
                w = w / norm
                for number, seed_weight in seeds:
                    scores[number] += w * seed_weight
        return dict(zip(self.keys, scores, strict=True))

    def nearest(self, text: str) -> tuple[str, float] | None:
        """(seed key, cosine rounded to 3 places) of the most similar seed, or None without seeds."""
        scores = self.similarities(text)
        if not scores:
            return None
        key = max(scores, key=lambda k: (scores[k], k))
        return key, round(scores[key], 3)
