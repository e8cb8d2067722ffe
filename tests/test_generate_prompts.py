"""Prompt rendering in both modes, shot rotation, steering, and the determinism of the request plan."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pipeline.config import Config, load_config
from pipeline.generation.parsing import parse_numbered
from pipeline.generation.planner import (
    EXAMPLES_SCHEMA,
    Planner,
    render_chat,
    render_completion,
    shot_line,
    shot_messages,
    steering,
)
from pipeline.schema import make_record
from pipeline.shots import rotation
from tests.helpers import chat, varied_examples

SYSTEM = "You write product descriptions."


def config(**generate) -> Config:
    return Config.model_validate(
        {"task": {"description": "Describe products.", "system_prompt": SYSTEM}, "generate": generate}
    )


def records(n: int, seed: int = 0):
    return [make_record(e, {"source": "seed"}) for e in varied_examples(n, seed)]


def planner(cfg: Config, mode: str = "chat", reviewed=(), response_format: str = "json_schema", seeds=None) -> Planner:
    return Planner(
        cfg,
        mode=mode,
        model="m",
        scope="host",
        response_format=response_format,
        seeds=seeds or records(10),
        reviewed=list(reviewed),
        round_=1,
    )


def test_completion_prompt_lays_out_numbered_shots_and_ends_at_the_next_number() -> None:
    shots = [chat("Feature list A\n- one\n- two", "Description A."), chat("Feature list B", "Description B.")]
    prompt = render_completion(config(), shots, m=3, steer={"topic": "kitchen", "persona": "a student"})
    assert prompt.startswith("Describe products.\n")
    assert "Examples 3 to 5 are new ones about kitchen, for a student" in prompt
    assert "### Example 1\nUSER: Feature list A\n- one\n- two\nASSISTANT: Description A.\n### END" in prompt
    assert prompt.endswith("### Example 3\n")
    assert f"SYSTEM: {SYSTEM}" not in prompt  # the project's system prompt is added back, not shown per shot
    # What the model continues the pattern with parses back into the same shape.
    items = parse_numbered("USER: Feature list C\nASSISTANT: Description C.\n### END\n", 3, 3)
    assert items[0].value == {
        "messages": [{"role": "user", "content": "Feature list C"}, {"role": "assistant", "content": "Description C."}]
    }


def test_completion_prompt_keeps_a_shot_specific_system_prompt() -> None:
    shot = chat("Q", "A", system="Answer in French.")
    assert "SYSTEM: Answer in French." in render_completion(config(), [shot], m=1, steer={})
    assert "Example 2 is a new one, each" in render_completion(config(), [shot], m=1, steer={})


def test_chat_prompt_shows_shots_as_json_lines_and_asks_for_m() -> None:
    shots = [chat("Feature list A", "Description A."), chat("Feature list B", "Description B.")]
    messages = render_chat(config(), [shot_line(s, SYSTEM) for s in shots], m=4, steer={"difficulty": "hard"})
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    lines = [json.loads(line) for line in user.splitlines() if line.startswith('{"messages"')]
    assert lines == [{"messages": shot_messages(s, SYSTEM)} for s in shots]
    assert all(m["role"] != "system" for line in lines for m in line["messages"])
    assert "Write 4 new examples of hard difficulty" in user
    assert SYSTEM in user and "Describe products." in user


@pytest.mark.parametrize("n,k", [(10, 3), (7, 3), (5, 2), (12, 5)])
def test_rotation_uses_every_seed_about_equally(n: int, k: int) -> None:
    draws = [rotation(n, i, k, "seeds") for i in range(60)]
    assert all(len(set(d)) == k for d in draws)
    uses = Counter(i for d in draws for i in d)
    assert set(uses) == set(range(n))
    mean = 60 * k / n
    assert max(uses.values()) - min(uses.values()) <= 1 and abs(max(uses.values()) - mean) <= 1


def test_rotation_is_deterministic_and_varies_the_combinations() -> None:
    assert [rotation(10, i, 3) for i in range(20)] == [rotation(10, i, 3) for i in range(20)]
    assert len({tuple(sorted(rotation(10, i, 3))) for i in range(20)}) >= 15
    assert rotation(3, 5, 4) == [2, 0, 1]  # fewer seeds than shots: all of them, rotated
    assert all(len(set(rotation(5, i, 4))) == 4 for i in range(40))  # a pool barely larger than k


def test_steering_covers_every_combination_evenly() -> None:
    cfg = config(topics=["a", "b", "c"], personas=["x", "y"], difficulty=["easy", "hard"])
    combos = Counter(tuple(steering(cfg, i).values()) for i in range(24))
    assert len(combos) == 12 and set(combos.values()) == {2}
    assert steering(config(), 5) == {}


def test_plan_is_the_same_on_every_run_and_every_draw_is_distinct() -> None:
    cfg = config(topics=["kitchen"])
    first, again = planner(cfg), planner(cfg)
    assert [first.request(i).key for i in range(30)] == [again.request(i).key for i in range(30)]
    assert len({first.request(i).key for i in range(30)}) == 30
    assert len({first.request(i).params["seed"] for i in range(30)}) == 30
    changed = planner(cfg, seeds=records(10, seed=1))
    assert changed.request(0).key != first.request(0).key
    other_round = Planner(
        cfg,
        mode="chat",
        model="m",
        scope="host",
        response_format="json_schema",
        seeds=first.seeds,
        reviewed=[],
        round_=2,
    )
    assert other_round.request(0).key != first.request(0).key


def test_request_parameters_per_mode() -> None:
    cfg = config(shots=3, per_request=2, max_output_tokens=300, temperature=0.7)
    completion = planner(cfg, mode="completion").request(0)
    assert completion.endpoint == "completions" and completion.params["stop"] == ["### Example 6"]
    assert "response_format" not in completion.params and completion.params["max_tokens"] == 300
    strict = planner(cfg, response_format="json_schema").request(0)
    assert strict.params["response_format"]["json_schema"]["schema"] == EXAMPLES_SCHEMA
    grammar = planner(cfg, response_format="json_object").request(0)
    assert grammar.params["response_format"] == {"type": "json_object", "schema": EXAMPLES_SCHEMA}
    assert "response_format" not in planner(cfg, response_format="none").request(0).params
    assert strict.params["temperature"] == 0.7 and strict.meta["shots"] == [s.id for s in planner(cfg).shots(0)]


def test_reviewed_examples_join_the_shots_as_configured() -> None:
    reviewed = records(4, seed=9)
    plan = planner(config(shots=3, reviewed_shots=1), reviewed=reviewed)
    reviewed_ids = {r.id for r in reviewed}
    for i in range(8):
        shots = plan.request(i).meta["shots"]
        assert len(shots) == 3 and sum(s in reviewed_ids for s in shots) == 1
    assert Counter(plan.request(i).meta["shots"][-1] for i in range(8)) == Counter({r.id: 2 for r in reviewed})


def test_demo_config_renders(project) -> None:
    cfg = load_config(project / "ftboot.toml")
    assert render_completion(cfg, [chat("a", "b")], 2, {}).endswith("### Example 2\n")
