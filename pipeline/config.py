"""A project's `ftboot.toml`, validated by pydantic: every table and key is declared below; an unknown or
mistyped key is an `InputError` that names the key, the file and the line. Secrets never live here: the config
names the environment variables that hold them. Finding the project directory is `pipeline.project`'s.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import InputError, Location
from pipeline.schema import ToolDef

CONFIG_NAME = "ftboot.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskConfig(_Section):
    name: str = "task"
    description: str = ""
    system_prompt: str = ""


class GenerateConfig(_Section):
    backend: Literal["local", "openai"] = "local"
    model: str = "gpt-4o-mini"
    mode: Literal["auto", "chat", "completion"] = Field(
        "auto",
        description=(
            "auto: completion for the local backend, chat for openai (see pipeline.generation.modes); [local]/[openai] mode come first"
        ),
    )
    shots: int = Field(3, ge=1)
    per_request: int = Field(5, ge=1)
    temperature: float = Field(0.9, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    max_output_tokens: int = Field(1024, ge=16)
    concurrency: int = Field(16, ge=1)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    topics: list[str] = []
    personas: list[str] = []
    difficulty: list[str] = []
    reviewed_shots: int = Field(1, ge=0, description="with --pool reviewed, shots per request from accepted reviews")
    min_chars: int = Field(20, ge=0)
    max_chars: int = Field(4000, ge=1)
    blocklist: list[str] = []
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    tools: list[ToolDef] = Field(
        [], description="[[generate.tools]]: functions examples call, besides the seeds' `tools`"
    )
    n: int = Field(100, ge=1, description="accepted candidates to aim for per round (--n)")
    response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto",
        description="chat mode's structured output: auto = json_schema for openai, json_object (grammar) for local",
    )
    timeout: float = Field(120, gt=0, description="seconds before one request counts as timed out")
    retries: int = Field(6, ge=0, description="retries per request on 429, 5xx, timeouts and dropped connections")
    acceptance_guess: float = Field(
        0.8,
        gt=0,
        le=1,
        description=(
            "share of generated items expected to pass the filters, for sizing a --batch before 20 items were seen"
        ),
    )


class JudgeConfig(_Section):
    """The optional judge of generated candidates (`pipeline.generation.judge`)."""

    enabled: bool = Field(False, description="judge every candidate after generating (else: generate --judge)")
    backend: Literal["local", "openai"] | None = Field(None, description="unset: generation's backend")
    model: str = Field("", description="unset: generation's model; the endpoint is [openai]'s, as for generation")
    rubric: str = Field("", description="what a good example is; unset: the task's description and system prompt")
    min_score: int | None = Field(None, ge=1, le=5, description="scores below this become rejects (low-score)")
    max_output_tokens: int = Field(120, ge=16)


class OpenAIConfig(_Section):
    base_url: str = Field("", description="$OPENAI_BASE_URL comes first; else OpenAI's own API")
    api_key_env: str = "OPENAI_API_KEY"
    mode: Literal["auto", "chat", "completion"] = Field("auto", description="generate's mode for this backend")


class LocalConfig(_Section):
    mode: Literal["auto", "chat", "completion"] = Field("auto", description="generate's mode for this backend")
    model_path: str = ""
    context_size: int = Field(4096, ge=512)
    threads: int | None = None


class BuildConfig(_Section):
    target: str = "openai"
    model: str = "gpt-4o-mini"
    val_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    near_duplicate_threshold: float = Field(0.85, gt=0, le=1)
    test_fraction: float = Field(0.1, ge=0, lt=1, description="share of reviewed examples held out in test.jsonl")
    test_min: int = Field(20, ge=0, description="held-out examples at least, when the pool holds twice as many")
    test_seeds: bool = Field(False, description="whether seeds may be drawn into the test set (they are shots)")


class LabelStudioConfig(_Section):
    url: str = Field("", description="used when $LABEL_STUDIO_URL is not set")
    api_key_env: str = Field("LABEL_STUDIO_API_KEY", description="the variable that holds the API key")
    project_title: str = "ftboot review"
    policy: Literal["latest", "majority", "unanimous"] = "latest"
    batch_size: int = Field(1000, ge=1, description="tasks per import request")
    overlap: int = Field(1, ge=1, description="reviewers each task waits for (set on the project by push)")


class AzureUploadConfig(_Section):
    endpoint: str = Field("", description="https://RESOURCE.openai.azure.com ($AZURE_OPENAI_ENDPOINT comes first)")
    api_version: str = "2024-10-21"
    deployment: str = ""
    api_key_env: str = "AZURE_OPENAI_API_KEY"


class TogetherUploadConfig(_Section):
    base_url: str = Field("", description="$TOGETHER_BASE_URL comes first; else Together's own API")
    api_key_env: str = "TOGETHER_API_KEY"
    learning_rate: float | None = Field(None, gt=0, description="Together takes an absolute rate, not a multiplier")


class FireworksUploadConfig(_Section):
    account: str = Field("", description="your Fireworks account id ($FIREWORKS_ACCOUNT_ID comes first)")
    base_url: str = Field("", description="$FIREWORKS_BASE_URL comes first; else Fireworks' own API")
    api_key_env: str = "FIREWORKS_API_KEY"
    learning_rate: float | None = Field(None, gt=0, description="an absolute rate; unset: Fireworks' default")
    lora_rank: int | None = Field(None, ge=1, description="unset: Fireworks' default")


class BedrockUploadConfig(_Section):
    bucket: str = Field("", description="the S3 bucket for the training files and the job's output")
    prefix: str = "ftboot"
    region: str = Field("", description="else boto3's own (AWS_REGION, the profile)")
    role_arn: str = Field("", description="the IAM role Bedrock assumes to read and write the bucket")
    learning_rate: float | None = Field(None, gt=0, description="unset: Bedrock's default for the model")


class HubUploadConfig(_Section):
    repo: str = Field("", description="the dataset repo to push to, e.g. me/support-chat")
    private: bool = True
    token_env: str = "HF_TOKEN"


class UploadConfig(_Section):
    provider: str = Field("", description="no default: `ftboot upload` lists the choices")
    model: str = Field("", description="the base model; empty: the provider's default")
    n_epochs: int | Literal["auto"] = "auto"
    batch_size: int | Literal["auto"] = "auto"
    learning_rate_multiplier: float | Literal["auto"] = "auto"
    beta: float | Literal["auto"] = Field("auto", description="DPO only")
    suffix: str = Field("", max_length=64)
    seed: int | None = None
    poll_interval: float = Field(15.0, gt=0, description="seconds between job polls with --wait")
    max_retries: int = Field(5, ge=0, description="retries of a 429 or 5xx answer, with backoff")
    azure: AzureUploadConfig = AzureUploadConfig()
    together: TogetherUploadConfig = TogetherUploadConfig()
    fireworks: FireworksUploadConfig = FireworksUploadConfig()
    bedrock: BedrockUploadConfig = BedrockUploadConfig()
    huggingface: HubUploadConfig = HubUploadConfig()


class Price(_Section):
    """US dollars per million tokens. Only what the user sets here is ever used for a cost."""

    input: float | None = None
    output: float | None = None
    training: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None


class EvalSystem(_Section):
    """One way of answering the test prompts: a model behind an endpoint, with k seeds as shots."""

    backend: Literal["local", "openai"] = "openai"
    model: str = Field("", description='"auto" = the model of the latest succeeded job in outputs/uploads.jsonl')
    base_url: str = Field("", description="else [openai] base_url (else the fine-tuning job's endpoint for auto)")
    api_key_env: str = Field("", description="else [openai] api_key_env (else the upload provider's for auto)")
    shots: int = Field(
        0, ge=0, description="seeds shown as example turns before each prompt; 0 = the system prompt alone"
    )


class EvalChecks(_Section):
    max_words: int | None = Field(None, ge=1)
    regex: str | None = Field(None, description="a pattern every answer must contain (re.search)")
    json_schema: str | dict[str, Any] | None = Field(
        None, description="a JSON Schema file (or inline table) answers must satisfy"
    )


class EvalJudge(_Section):
    backend: Literal["local", "openai"] = "openai"
    model: str = ""
    base_url: str = ""
    api_key_env: str = ""


class EvalConfig(_Section):
    systems: dict[str, EvalSystem] = {}
    checks: EvalChecks = EvalChecks()
    judge: EvalJudge = EvalJudge()
    max_output_tokens: int = Field(512, ge=16)
    concurrency: int = Field(16, ge=1)
    resamples: int = Field(1000, ge=100, description="bootstrap resamples for each confidence interval")
    margin: float = Field(2.0, gt=0, description="chrF points within which two systems count as equally good")


class Config(_Section):
    task: TaskConfig = TaskConfig()
    generate: GenerateConfig = GenerateConfig()
    judge: JudgeConfig = JudgeConfig()
    openai: OpenAIConfig = OpenAIConfig()
    local: LocalConfig = LocalConfig()
    build: BuildConfig = BuildConfig()
    labelstudio: LabelStudioConfig = LabelStudioConfig()
    upload: UploadConfig = UploadConfig()
    prices: dict[str, Price] = {}
    eval: EvalConfig = EvalConfig()


def key_line(text: str, key: str) -> int | None:
    """The line where `key` is set in a TOML text, for error messages (a best effort, never wrong to omit)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}="):
            return number
    return None


def load_config(path: Path) -> Config:
    """Read and validate one `ftboot.toml`."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", Location(path.name)) from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in error["loc"])
        what = "unknown key" if error["type"] == "extra_forbidden" else error["msg"][0].lower() + error["msg"][1:]
        line = key_line(text, str(error["loc"][-1]))
        raise InputError(
            what, Location(path.name, line, field), hint="see the commented example that `ftboot init` writes"
        ) from None
