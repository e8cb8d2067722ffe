"""Vertex AI supervised tuning for Gemini: each line as `systemInstruction` (from the system message) and
`contents` (`role` user or model, `parts: [{text}]`), checked first against Vertex's ruleset (`rules/vertex.py`),
and `tuning-job.json`, the request body of Vertex's `tuningJobs.create` naming the files once they are in Cloud
Storage. Chat sets only: the export refuses preference sets.
"""

from __future__ import annotations

from typing import Any

from pipeline.export import Exporter, Layout, as_json
from pipeline.schema import content_text

BUCKET = "gs://YOUR_BUCKET/ftboot"


class VertexExporter(Exporter):
    name = "vertex"
    label = "Vertex AI"
    formats = ("chat",)
    ruleset = "vertex"
    default_model = "gemini-2.5-flash"

    def convert(self, example: dict[str, Any], fmt: str) -> dict[str, Any]:
        line: dict[str, Any] = {}
        contents = []
        for message in example["messages"]:
            parts = [{"text": content_text(message.get("content"))}]
            if message["role"] == "system":
                line["systemInstruction"] = {"role": "system", "parts": parts}
            else:
                contents.append({"role": "model" if message["role"] == "assistant" else "user", "parts": parts})
        line["contents"] = contents
        return line

    def configs(self, layout: Layout) -> dict[str, str]:
        spec = {"trainingDatasetUri": f"{BUCKET}/{layout.train}"}
        if layout.validation:
            spec["validationDatasetUri"] = f"{BUCKET}/{layout.validation}"
        return {
            "tuning-job.json": as_json(
                {"baseModel": layout.model, "supervisedTuningSpec": spec, "tunedModelDisplayName": "ftboot"}
            )
        }

    def readme(self, layout: Layout) -> str:
        files = " ".join(filter(None, [layout.train, layout.validation]))
        return f"""# Tuning on Vertex AI

`{files.replace(" ", "` and `")}` hold the set in Vertex AI's supervised tuning format for Gemini
(`systemInstruction`, `contents` with roles `user` and `model`). `tuning-job.json` is the request that starts a
tuning job of `{layout.model}` on them. Replace `{BUCKET}` in it with your bucket and path, then:

```sh
gcloud storage cp {files} {BUCKET}/
curl -X POST -H "Authorization: Bearer $(gcloud auth print-access-token)" -H "Content-Type: application/json" \\
  -d @tuning-job.json \\
  "https://us-central1-aiplatform.googleapis.com/v1/projects/YOUR_PROJECT/locations/us-central1/tuningJobs"
```

The answer names the job; follow it in the Vertex AI console under Tuning.
"""
