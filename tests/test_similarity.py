"""The similarity a reviewer sees: high for a paraphrase of a seed, low for a new example, where the duplicate
filter's MinHash Jaccard says about nothing for either."""

from __future__ import annotations

from pipeline.dedup import signature
from pipeline.similarity import SeedSimilarity

SEEDS = {
    "chair": "Product: Tern folding camp chair\n- 1.1 kg, packs to 35 x 10 cm\n- aluminium frame, holds 120 kg\n"
    "A real seat at the campfire for the weight of a water bottle. The Tern weighs 1.1 kg and folds into "
    "its own carry bag, yet its aluminium frame holds 120 kg.",
    "planter": "Product: Sprig self-watering herb planter\n- 3 pots, 1.5 litre reservoir\n- water level window\n"
    "Fresh basil on the windowsill, even after a three-week holiday. The Sprig's reservoir feeds its "
    "three pots, and a little window shows when it needs a top-up.",
    "rope": "Product: Pace jump rope\n- adjustable 3 m steel cable\n- ball-bearing handles\n"
    "Ten minutes with the Pace is a full workout that fits in a pocket, and the handles count every jump.",
}
PARAPHRASE = (
    "Product: Tern camp chair, folding\n- packs to 35 x 10 cm, 1.1 kg\n- holds 120 kg, aluminium frame\n"
    "A proper seat by the campfire that weighs about what a water bottle does. Weighing 1.1 kg, the Tern "
    "folds into its carry bag, and the aluminium frame still holds 120 kg."
)
NEW = (
    "Product: Lumen desk lamp\n- 5 brightness levels\n- USB-C charging port\n"
    "Late reports read easier under the Lumen: five brightness levels let you set the light you need, and a "
    "USB-C port in its base charges your phone while you work."
)


def test_a_paraphrase_of_a_seed_scores_high_and_a_new_example_low():
    similarity = SeedSimilarity(SEEDS)
    key, score = similarity.nearest(PARAPHRASE)
    assert key == "chair" and score > 0.6
    assert similarity.nearest(NEW)[1] < 0.3
    assert similarity.nearest(SEEDS["planter"]) == ("planter", 1.0)
    # the duplicate filter's measure barely tells the paraphrase from the new example
    jaccard = signature(PARAPHRASE).jaccard(signature(SEEDS["chair"]))
    assert jaccard < 0.35 and score - similarity.nearest(NEW)[1] > 0.4


def test_without_seeds_there_is_no_nearest_one():
    assert SeedSimilarity({}).nearest(NEW) is None
