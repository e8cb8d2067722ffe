"""One resolution of endpoints for every stage: upload goes where OPENAI_BASE_URL points (the fine-tuning test
server, real HTTP), and the precedence flag > environment > ftboot.toml > default holds for every service and is
stated the same way on the upload page (docs/upload.md) and in the config template."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.llm.endpoint import DEFAULT_URL, URL_ENV, resolve
from tests.upload_helpers import make_project

REPO = Path(__file__).resolve().parent.parent
DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there


def test_upload_sends_to_openai_base_url_before_the_configured_one(tmp_path, finetune, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", finetune.key)
    monkeypatch.setenv("OPENAI_BASE_URL", finetune.api.url)
    project = make_project(tmp_path, finetune)
    toml = project.root / "ftboot.toml"
    toml.write_text(toml.read_text().replace(finetune.api.url, DEAD))  # ftboot.toml names an endpoint that is down
    result = project.run("--wait")
    assert result.exit_code == 0, result.output
    assert len(finetune.files) == 2 and len(finetune.jobs) == 1
    assert {row["endpoint"] for row in project.ledger() if "endpoint" in row} == {finetune.api.url.rstrip("/")}


def test_generate_batch_and_upload_resolve_one_endpoint(tmp_path, monkeypatch):
    """The endpoint generate labels its requests with is the one --batch and upload use."""
    from pipeline.generation.batch.submit import api_for
    from pipeline.generation.run import Options, RunSettings
    from pipeline.project import find_project
    from pipeline.upload.openai import OpenAIProvider

    monkeypatch.setenv("OPENAI_API_KEY", "test-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example:8443/v1")
    (tmp_path / "ftboot.toml").write_text(f'[openai]\nbase_url = "{DEAD}"\n')
    (tmp_path / "seeds").mkdir()
    for seed in (REPO / "seeds").iterdir():
        (tmp_path / "seeds" / seed.name).write_bytes(seed.read_bytes())
    project = find_project(tmp_path)
    stage = RunSettings(project, Options(backend="openai", model="m"))
    assert stage.label == "gateway.example:8443"
    assert stage.endpoint(None).base_url == "https://gateway.example:8443/v1"  # type: ignore[arg-type]
    assert str(api_for(project, "m").client.base_url) == "https://gateway.example:8443/v1/"
    assert OpenAIProvider(project).endpoint == "https://gateway.example:8443/v1"


SECTIONS = {
    "openai": ("openai", "base_url"),
    "together": ("upload.together", "base_url"),
    "azure": ("upload.azure", "endpoint"),
    "fireworks": ("upload.fireworks", "base_url"),
}


@pytest.mark.parametrize("service", sorted(SECTIONS))
def test_precedence_environment_then_config_then_default(service, monkeypatch):
    table, key = SECTIONS[service]
    monkeypatch.delenv(URL_ENV[service], raising=False)
    assert resolve(Config(), service).base_url == DEFAULT_URL[service].rstrip("/")
    configured = Config.model_validate(_nested(table, {key: "https://from-toml.example/v1"}))
    assert resolve(configured, service).base_url == "https://from-toml.example/v1"
    monkeypatch.setenv(URL_ENV[service], "https://from-env.example/v1/")
    assert resolve(configured, service).base_url == "https://from-env.example/v1"
    assert resolve(Config(), service).base_url == "https://from-env.example/v1"


def test_model_flag_before_configured_model():
    assert resolve(Config(), "openai", "from-flag", "from-toml").model == "from-flag"
    assert resolve(Config(), "openai", None, "from-toml").model == "from-toml"


def test_key_comes_from_the_named_variable_only(monkeypatch):
    from pipeline.errors import InputError

    config = Config.model_validate({"openai": {"api_key_env": "MY_GATEWAY_KEY"}})
    monkeypatch.delenv("MY_GATEWAY_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "test-not-this-one")
    with pytest.raises(InputError, match="MY_GATEWAY_KEY is not set"):
        resolve(config, "openai", "m").endpoint()
    monkeypatch.setenv("MY_GATEWAY_KEY", "test-gateway")
    assert resolve(config, "openai", "m").endpoint().api_key == "test-gateway"


def test_docs_and_template_state_the_same_precedence():
    template = (REPO / "pipeline" / "templates" / "ftboot.toml").read_text()
    block = re.search(r"^# (Every stage .*?then the built-in default\.)$", template, re.S | re.M)
    assert block is not None
    sentence = " ".join(block.group(1).replace("\n# ", " ").split())
    assert sentence in " ".join((REPO / "docs" / "upload.md").read_text().split())


def _nested(table: str, values: dict) -> dict:
    out: dict = values
    for part in reversed(table.split(".")):
        out = {part: out}
    return out
