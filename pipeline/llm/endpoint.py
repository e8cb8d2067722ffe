"""Where a stage's requests go: the one place that decides the base URL, the key's variable and the model for
`generate`, `generate --batch` and `upload`, so that a key and a training set meant for a gateway or a self-hosted
endpoint never go to a public API because one stage read the settings differently.

Precedence, the same for every setting of every service: a command-line flag (`--model`; there is no URL flag),
then the environment variable (`OPENAI_BASE_URL`, `TOGETHER_BASE_URL`, `AZURE_OPENAI_ENDPOINT`,
`FIREWORKS_BASE_URL`), then `ftboot.toml` (`base_url` under `[openai]`, `[upload.together]`, `[upload.fireworks]`;
`endpoint` under `[upload.azure]`), then the built-in default. The key is read from the variable that
`api_key_env` names, from the environment only, when it is needed: `read_key` is the one place any stage reads a
key or token (generation, batch, judge, eval, upload). Sending requests is the callers' business.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from pipeline.config import AzureUploadConfig, Config, FireworksUploadConfig, OpenAIConfig, TogetherUploadConfig
from pipeline.errors import InputError
from pipeline.llm.request import Endpoint, host_of

Service = Literal["openai", "together", "azure", "fireworks"]
URL_ENV: dict[str, str] = {
    "openai": "OPENAI_BASE_URL",
    "together": "TOGETHER_BASE_URL",
    "azure": "AZURE_OPENAI_ENDPOINT",
    "fireworks": "FIREWORKS_BASE_URL",
}
DEFAULT_URL: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "together": "https://api.together.xyz/v1",
    "azure": "",
    "fireworks": "https://api.fireworks.ai",
}  # an Azure resource has no default


def read_key(env: str) -> str:
    """The key or token in the environment variable `env`, "" when unset or blank; callers say what is missing."""
    return os.environ.get(env, "").strip()


@dataclass(frozen=True)
class Target:
    """A resolved endpoint: never holds the key, so it may be shown and recorded."""

    service: str
    base_url: str  # "" only for Azure with no endpoint set anywhere
    key_env: str
    model: str

    @property
    def label(self) -> str:
        return host_of(self.base_url)

    def key(self) -> str:
        return read_key(self.key_env)

    def endpoint(self) -> Endpoint:
        """The endpoint with its key, for sending; InputError when the key's variable is unset."""
        if not self.key():
            raise InputError(
                f"{self.key_env} is not set; the {self.service} endpoint needs an API key",
                hint="export it, or use --backend local for the bundled offline model",
            )
        return Endpoint(self.base_url, self.key(), self.model, self.label)


def resolve(
    config: Config, service: Service = "openai", model: str | None = None, configured_model: str = ""
) -> Target:
    """The endpoint of `service` for a stage: `model` is the command's --model, `configured_model` ftboot.toml's."""
    sections: dict[Service, OpenAIConfig | TogetherUploadConfig | AzureUploadConfig | FireworksUploadConfig] = {
        "openai": config.openai,
        "together": config.upload.together,
        "azure": config.upload.azure,
        "fireworks": config.upload.fireworks,
    }
    section = sections[service]
    configured_url = section.endpoint if isinstance(section, AzureUploadConfig) else section.base_url
    base_url = os.environ.get(URL_ENV[service], "").strip() or configured_url or DEFAULT_URL[service]
    return Target(service, base_url.rstrip("/"), section.api_key_env, model or configured_model)
