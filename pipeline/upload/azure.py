"""Azure OpenAI fine-tuning: the same files, job request and events as OpenAI, through the SDK's `AzureOpenAI` client
(URLs under `{endpoint}/openai/`, an `api-version` query and an `api-key` header).

Settings come from `[upload.azure]`: `endpoint` ($AZURE_OPENAI_ENDPOINT comes first, as `pipeline.llm.endpoint`
resolves it), `api_version`, `deployment` and `api_key_env`. `--model` is the base model name as Azure lists it for fine-tuning (e.g. gpt-4o-mini-2024-07-18).
Deploying the fine-tuned model is left to Azure's own tools.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from pipeline.errors import RunError
from pipeline.llm.endpoint import Service, resolve
from pipeline.upload.openai import OpenAIProvider, sdk_client


class AzureProvider(OpenAIProvider):
    name = "azure"
    label = "Azure OpenAI"
    needs = "AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT and an existing fine-tuning customer's resource"

    service: ClassVar[Service] = "azure"

    @property
    def endpoint(self) -> str:
        endpoint = resolve(self.project.config, self.service).base_url
        if not endpoint:
            raise RunError(
                "no Azure endpoint: set AZURE_OPENAI_ENDPOINT or endpoint under [upload.azure] in ftboot.toml",
                hint="it looks like https://YOUR-RESOURCE.openai.azure.com",
            )
        return endpoint

    @functools.cached_property
    def client(self) -> Any:
        return sdk_client(self, self.settings.azure)
