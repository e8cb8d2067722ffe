"""Every filter of the screen, and `records_from_reply`: reasons, neighbours, provenance, refusals, replays."""

from __future__ import annotations

import json

import pytest

from pipeline.config import Config
from pipeline.generation.checks import Blocklist, Draft, Filter, Length, Reason
from pipeline.generation.filters import Screen, dedup_text, records_from_reply
from pipeline.llm.request import CHAT, COMPLETION, Choice, PlannedRequest, Reply
from pipeline.schema import make_record

SYSTEM = "You write product descriptions."
LONG = (
    "The Harbor kettle boils a full litre in three minutes, switches itself off when the water is ready, "
    "and its cool-touch handle stays comfortable while you pour the first cup of the morning."
)


def example(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


SEED = make_record(
    {"messages": [{"role": "system", "content": SYSTEM}, *example("Product: Harbor kettle", LONG)["messages"]]},
    {"source": "seed"},
)


@pytest.fixture
def screen() -> Screen:
    config = Config.model_validate(
        {
            "task": {"system_prompt": SYSTEM},
            "generate": {
                "min_chars": 40,
                "max_chars": 600,
                "blocklist": ["lorem ipsum", "As an AI"],
                "near_duplicate_threshold": 0.7,
            },
        }
    )
    return Screen(config, [SEED])


def test_accepted_gets_the_system_prompt_and_its_nearest_seed(screen: Screen) -> None:
    stored, verdict = screen.check(
        example(
            "Product: Wren desk lamp",
            "A warm pool of light for late reading, dimmable in five steps and folding flat for the drawer.",
        )
    )
    assert "reason" not in verdict
    assert stored["messages"][0] == {"role": "system", "content": SYSTEM}
    assert verdict["nearest_seed"] == SEED.id and 0 <= verdict["nearest_seed_similarity"] < 0.7


@pytest.mark.parametrize(
    "value,code,detail",
    [
        ({"messages": [{"role": "bot", "content": "hi"}]}, "schema", "messages[0].role"),
        ({"messages": "hello"}, "schema", "messages"),
        ({"text": "an object of another shape"}, "schema", "messages: is required"),
        (
            {"messages": [{"role": "user", "content": "Only a question, long enough to pass the length filter."}]},
            "empty",
            "no assistant",
        ),
        (example("Product: lamp with a long enough feature list", "   "), "empty", "messages[2]"),
        (example("Lamp", "Bright."), "too-short", "fewer than min_chars 40"),
        (example("Lamp", "Bright. " * 100), "too-long", "more than max_chars 600"),
        (
            example("Product: lamp", "Lorem Ipsum dolor sit amet, a lamp for every desk and every mood."),
            "blocklisted",
            "'lorem ipsum'",
        ),
        (
            example("Product: lamp", "As an AI language model I cannot see lamps, but this one is bright."),
            "blocklisted",
            "'as an ai'",
        ),
    ],
)
def test_each_filter_rejects_with_its_reason(screen: Screen, value: dict, code: str, detail: str) -> None:
    _, verdict = screen.check(value)
    assert verdict["reason"]["code"] == code and detail in verdict["reason"]["detail"]


def test_blocklist_matches_whole_words_only(screen: Screen) -> None:
    _, verdict = screen.check(
        example("Product: lamp", "Ask an AIrline steward: as an aid to sleep this lamp glows softly.")
    )
    assert "reason" not in verdict


def test_exact_and_near_duplicates_of_seeds_and_earlier_candidates(screen: Screen) -> None:
    _, exact = screen.check(example("Product:  HARBOR kettle", LONG.upper()))  # same text after normalization
    assert exact["reason"]["code"] == "duplicate" and exact["neighbour"] == SEED.id and exact["similarity"] == 1.0
    _, near = screen.check(example("Product: Harbor kettle", LONG.replace("three minutes", "four minutes")))
    assert near["reason"]["code"] == "near-duplicate" and near["neighbour"] == SEED.id and 0.7 <= near["similarity"] < 1
    first = example(
        "Product: Fjord rain jacket",
        "Stay dry on the ridge: taped seams, a stowable hood and pit zips "
        "that let the heat out on the long climb home.",
    )
    stored, verdict = screen.check(first)
    assert "reason" not in verdict
    _, again = screen.check(first)
    assert again["reason"]["code"] == "duplicate" and again["neighbour"] == make_record(stored, {}).id


def test_system_messages_do_not_count_for_duplicates() -> None:
    record = make_record(example("Product: x", "y"), {})
    with_system = {"messages": [{"role": "system", "content": "long shared prompt " * 20}, *record.example["messages"]]}
    assert dedup_text(with_system) == dedup_text(record.example) == "Product: x\ny"


def request(endpoint: str = CHAT) -> PlannedRequest:
    meta = {
        "shots": ["s1", "s2"],
        "round": 1,
        "steer": {"topic": "kitchen"},
        "prompt_hash": "abc",
        "first": 3,
        "count": 2,
        "mode": "chat" if endpoint == CHAT else "completion",
    }
    return PlannedRequest(
        endpoint,
        "model-x",
        {"prompt": "p"},
        {"temperature": 0.9, "top_p": 0.95, "max_tokens": 100, "seed": 7},
        "1:0",
        "api.example.com",
        meta,
    )


def reply(*choices: Choice) -> Reply:
    return Reply(tuple(choices), 10, 20)


GOOD = example("Product: Wren desk lamp", "A warm pool of light for late reading, dimmable in five steps.")


def test_records_carry_provenance_and_reasons(screen: Screen) -> None:
    text = (
        json.dumps({"examples": [GOOD, example("Lamp", "Short.")]}) + '\n{"messages": [{"role": "user", "content": "cut'
    )
    out = records_from_reply(request(), reply(Choice(text, "length")), screen, "api.example.com")
    assert [(accepted, r.provenance["item"]) for r, accepted in out] == [(True, 0), (False, 1), (False, 2)]
    good, short, cut = (r for r, _ in out)
    assert good.provenance | {"nearest_seed": None} == {
        "source": "generated",
        "shots": ["s1", "s2"],
        "model": "model-x",
        "endpoint": "api.example.com",
        "mode": "chat",
        "params": {"temperature": 0.9, "top_p": 0.95, "max_tokens": 100, "seed": 7},
        "prompt_hash": "abc",
        "round": 1,
        "request": request().key,
        "topic": "kitchen",
        "item": 0,
        "nearest_seed": None,
        "nearest_seed_similarity": good.provenance["nearest_seed_similarity"],
    }
    assert good.provenance["nearest_seed"] == SEED.id
    assert short.reason["code"] == "too-short" and short.example["messages"][1]["content"] == "Lamp"
    assert cut.reason["code"] == "truncated" and cut.example == {} and cut.raw.startswith('{"messages"')


@pytest.mark.parametrize(
    "choice,code",
    [
        (Choice("", "stop", "I can't help with that."), "refusal"),
        (Choice("Sorry.", "content_filter"), "refusal"),
        (Choice("   ", "stop"), "empty"),
        (Choice("No JSON in this reply at all.", "stop"), "unparseable"),
        (Choice("I will now write the exam", "length"), "truncated"),
    ],
)
def test_replies_without_examples_are_accounted_for(screen: Screen, choice: Choice, code: str) -> None:
    out = records_from_reply(request(), reply(choice), screen, "h")
    assert len(out) == 1 and not out[0][1] and out[0][0].reason["code"] == code


def test_completion_replies_and_replays_skip_what_was_written(screen: Screen) -> None:
    text = "USER: Product: Wren desk lamp\nASSISTANT: A warm pool of light for late reading, dimmable.\n### END\n"
    planned = request(COMPLETION)
    first = records_from_reply(planned, reply(Choice(text)), screen, "h")
    assert [a for _, a in first] == [True]
    assert records_from_reply(planned, reply(Choice(text)), screen, "h", skip={(planned.key, 0)}) == []
    # Without the skip, the replayed example would meet itself in the index.
    assert records_from_reply(planned, reply(Choice(text)), screen, "h")[0][0].reason["code"] == "duplicate"


def test_each_filter_answers_alone_and_the_first_refusal_in_order_wins(screen: Screen) -> None:
    short = Draft(None, example("Lorem ipsum", "Bright."))
    assert Length(40, 600).reason(short) == ("too-short", "19 characters, fewer than min_chars 40")
    assert Blocklist(["lorem ipsum"]).reason(short) == ("blocklisted", "contains 'lorem ipsum'")
    assert Length(10, 600).reason(short) is None
    _, verdict = screen.check(example("Lorem ipsum", "Bright."))  # too short and blocklisted: length comes first
    assert verdict["reason"] == {"code": "too-short", "detail": "19 characters, fewer than min_chars 40"}

    class NoKettles(Filter):
        def reason(self, draft: Draft) -> Reason | None:
            return ("off-topic", "a kettle") if "kettle" in draft.text else None

    screen.filters.append(NoKettles())
    _, verdict = screen.check(example("Product: Fjord kettle", "A steel kettle that sings when the water boils."))
    assert verdict["reason"] == {"code": "off-topic", "detail": "a kettle"}
