"""A planned request's key, prompt hash, estimate and body are cut from one sorted encoding of its payload and
parameters; each is checked against the plain `json.dumps` it stands for, so a cache written before stays valid
and what is sent is what `body()` says."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.llm.request import CHAT, COMPLETION, PlannedRequest

text = st.text(max_size=20)  # any code point but lone surrogates: accents, CJK, emoji, control characters
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3))
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user"]), "content": text}), max_size=4)
payloads = st.one_of(
    st.builds(lambda m: {"messages": m}, messages),
    st.builds(lambda p: {"prompt": p}, text),
    st.dictionaries(text, values, max_size=3),  # anything, a key shared with the parameters or "model" included
)
params = st.dictionaries(st.sampled_from(["temperature", "seed", "response_format", "stop", "model", "prompt"]), values)


def reference_key(r: PlannedRequest) -> str:
    blob = json.dumps([r.scope, r.endpoint, r.model, r.payload, r.params, r.sample], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([CHAT, COMPLETION]), text, payloads, params, text, text)
@example(CHAT, "m", {"prompt": "\x7f"}, {}, "", "")  # ASCII that ensure_ascii escapes all the same
def test_the_cuts_equal_the_encodings_they_stand_for(
    endpoint: str, model: str, payload: dict[str, Any], given_params: dict[str, Any], sample: str, scope: str
) -> None:
    request = PlannedRequest(endpoint, model, payload, given_params, sample, scope)
    assert request.key == reference_key(request)
    assert request.prompt_hash == hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    assert request.prompt_estimate == len(json.dumps(payload, ensure_ascii=False)) // 3 + 1
    assert json.loads(request.encoded_body) == json.loads(json.dumps(request.body(), ensure_ascii=False))


def test_a_key_written_by_an_earlier_version_is_still_the_key() -> None:
    """The value da1400c computed for this request, before the encodings were shared."""
    request = PlannedRequest(
        CHAT, "gpt-4o-mini", {"messages": [{"role": "user", "content": "Olá, 世界"}]}, {}, "1:0", "h"
    )
    assert request.key == "2520cfd6eb3f5d374d6851212e126b21"
