"""Tolerant parsing of what models write: prose, fences, trailing commas, several objects, cut-off replies."""

from __future__ import annotations

import json

from pipeline.generation.parsing import parse_json_reply, parse_numbered


def ex(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]}


def values(items) -> list:
    return [i.value for i in items if i.problem is None]


def problems(items) -> list[str]:
    return [i.problem[0] for i in items if i.problem]


def test_a_container_object() -> None:
    items = parse_json_reply(json.dumps({"examples": [ex(1), ex(2)]}))
    assert values(items) == [ex(1), ex(2)] and problems(items) == []


def test_prose_and_a_code_fence_around_the_json() -> None:
    text = f"Sure! Here you go:\n```json\n{json.dumps({'examples': [ex(1)]}, indent=2)}\n```\nLet me know [if] you need more."
    assert values(parse_json_reply(text)) == [ex(1)]
    assert problems(parse_json_reply(text)) == []


def test_trailing_commas_are_forgiven() -> None:
    text = '[{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},]},]'
    assert values(parse_json_reply(text)) == [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    ]


def test_several_objects_one_after_another() -> None:
    text = "\n".join(json.dumps(ex(i)) for i in range(3)) + "\n" + json.dumps(ex(3))
    assert values(parse_json_reply(text)) == [ex(0), ex(1), ex(2), ex(3)]
    assert values(parse_json_reply(f"First: {json.dumps(ex(1))} and second: {json.dumps(ex(2))}.")) == [ex(1), ex(2)]


def test_a_cut_off_last_object_keeps_the_ones_before_it() -> None:
    full = json.dumps({"examples": [ex(1), ex(2), ex(3)]})
    cut = full[: full.index("answer 3") - 5]
    items = parse_json_reply(cut, "length")
    assert values(items) == [ex(1), ex(2)]
    assert problems(items) == ["truncated"] and "output limit" in items[-1].problem[1]
    jsonl = json.dumps(ex(1)) + "\n" + json.dumps(ex(2))[:20]
    assert values(parse_json_reply(jsonl, "length")) == [ex(1)] and problems(parse_json_reply(jsonl)) == ["truncated"]


def test_a_cut_off_reply_with_no_complete_example() -> None:
    items = parse_json_reply('{"examples": [{"messages": [{"role": "user", "content": "q', "length")
    assert values(items) == [] and problems(items) == ["truncated"]


def test_a_broken_example_is_reported_and_its_neighbours_kept() -> None:
    broken = '{"messages": [{"role": "user" "content": "q"}]}'
    text = '{"examples": [' + json.dumps(ex(1)) + ", " + broken + ", " + json.dumps(ex(2)) + "]}"
    items = parse_json_reply(text)
    assert values(items) == [ex(1), ex(2)]
    assert problems(items) == ["unparseable"] and items[1].raw == broken


def test_json_that_is_not_an_example() -> None:
    items = parse_json_reply('{"examples": [1, "two", ' + json.dumps(ex(1)) + "]}")
    assert problems(items) == ["not-an-example", "not-an-example"] and values(items) == [ex(1)]
    assert parse_json_reply("No JSON here at all.") == []


def test_numbered_blocks_with_multiline_content_and_junk_after_the_end() -> None:
    text = (
        "USER: Product: kettle\n- 1.7 l\n- auto off\nASSISTANT: Boil fast.\nSafe, too.\n### END\n\n"
        "### Example 5\nUSER: Product: lamp\nASSISTANT: Light up.\n### END\n\nThanks for reading! USER: junk"
    )
    items = parse_numbered(text, 4, 2)
    assert values(items) == [
        {
            "messages": [
                {"role": "user", "content": "Product: kettle\n- 1.7 l\n- auto off"},
                {"role": "assistant", "content": "Boil fast.\nSafe, too."},
            ]
        },
        {"messages": [{"role": "user", "content": "Product: lamp"}, {"role": "assistant", "content": "Light up."}]},
    ]


def test_numbered_cut_off_last_block_and_numbers_not_asked_for() -> None:
    text = (
        "USER: a\nASSISTANT: b\n### END\n\n### Example 2\nUSER: repeated shot\nASSISTANT: x\n### END\n"
        "### Example 5\nUSER: c\nASSISTANT: d is cut"
    )
    items = parse_numbered(text, 4, 2, "length")
    assert values(items) == [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    assert problems(items) == ["truncated"]
    # The same last block stopped by the stop sequence (finish_reason stop) is complete.
    assert len(values(parse_numbered(text, 4, 2, "stop"))) == 2


def test_numbered_block_without_turns() -> None:
    items = parse_numbered("Just some prose without roles.\n### END", 4, 1)
    assert problems(items) == ["unparseable"]
