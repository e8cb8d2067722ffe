"""What an eval asks and of whom: the test items, and the systems from `[eval.systems.NAME]` resolved to endpoints.

A test item is a chat example split at its last assistant turn: the conversation before it is the prompt, that
turn's text is the reference. A system's request is the prompt with k seeds (never a held-out one) put in front
as user/assistant turns after the system message, the shots rotating over items so every seed is shown about
equally often. `model = "auto"` is the fine-tuned model of the latest succeeded job in `outputs/uploads.jsonl`,
asked on that job's provider endpoint. Every mistake in the tables is an `InputError` located in ftboot.toml.

Sending the requests is `pipeline.llm`'s job; scoring the answers is `pipeline.eval.scores`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import EvalSystem
from pipeline.errors import InputError, Location
from pipeline.jsonl import read_jsonl
from pipeline.ledgers.uploads import UploadLedger
from pipeline.llm.endpoint import read_key
from pipeline.llm.endpoint import resolve as resolve_endpoint
from pipeline.llm.local import model_name
from pipeline.llm.request import CHAT, Endpoint, PlannedRequest, host_of
from pipeline.project import Project, key_location
from pipeline.schema import content_text, example_id
from pipeline.shots import rotation

AUTO = "auto"


@dataclass(frozen=True)
class EvalItem:
    id: str
    prompt: list[dict[str, str]]  # the conversation up to the last assistant turn
    reference: str


@dataclass(frozen=True)
class System:
    name: str
    backend: str  # local | openai
    model: str
    base_url: str
    api_key_env: str
    shots: int
    fine_tuned: bool  # found in the upload ledger (model = "auto")


def _messages(example: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": content_text(m.get("content"))} for m in example.get("messages") or []]


def load_items(path: Path, shown: str, limit: int | None = None) -> list[EvalItem]:
    """The test items of a chat JSONL file (outputs/test.jsonl or --test FILE)."""
    if not path.exists():
        raise InputError(
            "no test set",
            Location(shown),
            hint="`ftboot build` writes outputs/test.jsonl from reviewed examples; or pass --test FILE",
        )
    items = []
    for line, row in read_jsonl(path, shown):
        messages = _messages(row) if isinstance(row, dict) else []
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if last is None or last == 0:
            raise InputError("a test example needs a prompt and an assistant answer", Location(shown, line, "messages"))
        items.append(EvalItem(example_id(row), messages[:last], messages[last]["content"]))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise InputError("no test examples in this file", Location(shown))
    return items


def _provider_chat(project: Project, provider: str, job_endpoint: str) -> tuple[str, str] | None:
    """(base URL, key variable) where a provider's fine-tuned models answer chat requests, by the precedence of
    `pipeline.llm.endpoint`; None for Azure deployments and Bedrock, which ftboot cannot address by itself."""
    if provider in ("openai", "together"):
        # their fine-tuning and chat APIs share one OpenAI-compatible base URL: the one the job was started on
        return job_endpoint, resolve_endpoint(project.config, provider).key_env  # type: ignore[arg-type]
    if provider == "fireworks":
        target = resolve_endpoint(project.config, "fireworks")
        return f"{target.base_url}/inference/v1", target.key_env
    return None


def resolve(project: Project, names: list[str] | None = None) -> list[System]:
    """The configured systems (all, or those named, in that order), each with its model and endpoint settings."""
    configured = project.config.eval.systems
    if not configured:
        raise InputError(
            "no systems to compare",
            key_location(project, "eval.systems"),
            hint='add tables such as [eval.systems.few-shot] with model = "..." and shots = 3',
        )
    for name in names or []:
        if name not in configured:
            raise InputError(
                f"no system {name!r} under [eval.systems]",
                Location("--systems"),
                hint=f"configured: {', '.join(configured)}",
            )
    return [_resolve_one(project, name, configured[name]) for name in (names or list(configured))]


def _resolve_one(project: Project, name: str, cfg: EvalSystem) -> System:
    where = f"eval.systems.{name}"
    if cfg.model == AUTO:
        found = UploadLedger(project).fine_tuned()
        if found is None:
            raise InputError(
                f'model = "auto" but {project.show(project.paths.uploads)} has no succeeded fine-tuning job',
                key_location(project, f"{where}.model"),
                hint="`ftboot upload --wait` records one; or name the model",
            )
        model, provider, endpoint = found
        chat = _provider_chat(project, provider, endpoint)
        base_url = cfg.base_url or (chat[0] if chat else "")
        if not base_url:
            raise InputError(
                f"the fine-tuned model is on {provider}, whose chat endpoint ftboot does not know",
                key_location(project, f"{where}.model"),
                hint=f"set base_url (an OpenAI-compatible endpoint serving {model}) in [{where}]",
            )
        key_env = cfg.api_key_env or (chat[1] if chat else project.config.openai.api_key_env)
        return System(name, "openai", model, base_url, key_env, cfg.shots, True)
    if not cfg.model and cfg.backend == "openai":
        raise InputError("a system needs a model", key_location(project, f"{where}.model"))
    if cfg.backend == "local":
        return System(name, "local", model_name(project.config.local), "", "", cfg.shots, False)
    target = resolve_endpoint(project.config, "openai", configured_model=cfg.model)  # env, then [openai], then default
    return System(
        name,
        cfg.backend,
        cfg.model,
        cfg.base_url or target.base_url,
        cfg.api_key_env or target.key_env,
        cfg.shots,
        False,
    )


def endpoint_of(system: System, local: Endpoint | None) -> Endpoint:
    """Where a system's requests go; the key from the environment only."""
    if system.backend == "local":
        assert local is not None
        return local
    base_url = system.base_url
    key = read_key(system.api_key_env)
    if not key:
        raise InputError(
            f"{system.api_key_env} is not set; system {system.name!r} needs an API key",
            hint="export it, or set api_key_env under its [eval.systems] table",
        )
    return Endpoint(base_url, key, system.model, host_of(base_url))


def shot_turns(shots: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The seeds' conversations as example turns, without their system messages."""
    return [m for shot in shots for m in _messages(shot) if m["role"] != "system"]


def request_for(
    system: System,
    endpoint: Endpoint,
    item: EvalItem,
    number: int,
    pool: list[tuple[str, dict[str, Any]]],
    max_tokens: int,
) -> PlannedRequest:
    """The request that asks `system` for item number `number`. Greedy decoding keeps answers repeatable."""
    picked = (
        [pool[j] for j in rotation(len(pool), number, min(system.shots, len(pool)), "eval")] if system.shots else []
    )
    head = [m for m in item.prompt[:1] if m["role"] == "system"]
    messages = head + shot_turns([example for _, example in picked]) + item.prompt[len(head) :]
    params = {"temperature": 0.0, "max_tokens": max_tokens, "seed": 0}
    meta = {"system": system.name, "item": item.id, "shots": [key for key, _ in picked]}
    return PlannedRequest(CHAT, endpoint.model, {"messages": messages}, params, f"eval:{item.id}", endpoint.label, meta)
