"""`ftboot build` and `ftboot export`: validate, deduplicate and split the final set, and write it for a local
trainer or Vertex AI.

Building is `pipeline.build`'s and exporting `pipeline.export`'s; this module prints their results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import (
    EXISTING_FILE,
    EXPORT_TARGETS,
    Writes,
    echo_json,
    format_option,
    json_option,
    progress_bar,
    project_of,
)


@click.command(cls=Writes)
@click.option(
    "--input",
    "input_path",
    type=EXISTING_FILE,
    help="Build from this chat JSONL instead of seeds + accepted reviews.",
)
@format_option("chat: supervised set; dpo: preference set from reviewers' edits.")
@click.option("--target", help="Ruleset to validate against (default from ftboot.toml: openai).")
@click.option("--model", help="Target model, for its token limit (default from ftboot.toml).")
@click.option("--push-to-hub", "push_to_hub", metavar="REPO", help="Also push the DatasetDict to this Hub repo.")
@click.option(
    "--export",
    "export_to",
    type=click.Choice(EXPORT_TARGETS),
    help="Then export the set to outputs/export-TARGET/ (as `ftboot export --to TARGET`).",
)
@json_option("the summary")
@click.pass_context
def build(
    ctx: click.Context,
    input_path: Path | None,
    fmt: str,
    target: str | None,
    model: str | None,
    push_to_hub: str | None,
    export_to: str | None,
    as_json: bool,
) -> None:
    """Validate, deduplicate and split into outputs/train.jsonl and val.jsonl, with report.md and dataset/.

    \b
    Examples:
      ftboot build
      ftboot build --input my-examples.jsonl --model gpt-4.1-nano
      ftboot build --format dpo
      ftboot build --export vertex
    """
    from pipeline.build.run import build as run_build

    project = project_of(ctx)
    with progress_bar(disabled=as_json) as update:
        result = run_build(project, input_path=input_path, fmt=fmt, target=target, model=model, progress=update)
    if push_to_hub:
        from pipeline.upload.huggingface import push_built

        push_built(project, project.paths.build(fmt == "dpo").dataset, push_to_hub)
    if as_json:
        echo_json(result.summary())
    else:
        click.echo(build_text(result))
    if export_to:
        ctx.invoke(
            export, to=export_to, directory=project.paths.export(export_to), fmt=fmt, model=None, as_json=as_json
        )


def build_text(result: Any) -> str:  # result: pipeline.build.run.BuildResult
    """What was built from how many inputs, why the others were rejected, the cost to train, and what to read next."""
    reasons = ", ".join(f"{n} {code}" for code, n in result.rejects.reasons.most_common()) or "none"
    cost = f"${result.cost:.2f}" if result.cost is not None else "no price set in ftboot.toml"
    return (
        f"built {len(result.train)} train + {len(result.val)} val examples"
        f"{f' (+ {len(result.held.test)} held out for test)' if result.held else ''} from {result.inputs} inputs "
        f"(rejected: {reasons})\n"
        f"{result.billed_tokens:,} billed training tokens ({result.epochs} epochs); cost: {cost}\n"
        f"wrote {', '.join(result.paths.values())}\nnext: read {result.paths['report']}, then `ftboot upload --dry-run`"
    )


@click.command()
@click.option(
    "--to",
    "to",
    type=click.Choice(EXPORT_TARGETS),
    required=True,
    help="trl, axolotl, unsloth (local trainers) or vertex (Vertex AI tuning).",
)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@format_option("chat: train.jsonl and val.jsonl; dpo: the preference set from `build --format dpo`.")
@click.option("--model", help="The base model the written config names (default: one suited to the target).")
@json_option("what was written")
@click.pass_context
def export(ctx: click.Context, to: str, directory: Path, fmt: str, model: str | None, as_json: bool) -> None:
    """Write the final set for a local trainer or Vertex AI into DIRECTORY, with a ready config and a README.md.

    The built files are validated again against the target's rules first; nothing is written if one is invalid.

    \b
    Examples:
      ftboot export --to trl train-here/
      ftboot export --to axolotl --format dpo axolotl-dpo/
      ftboot export --to vertex vertex/
    """
    from pipeline.export import export as run_export

    result = run_export(project_of(ctx), to, directory, fmt, model)
    if as_json:
        echo_json(result.as_dict())
        return
    for name, lines in result.files.items():
        click.echo(f"wrote {directory / name}" + (f" ({lines} lines)" if lines else ""))
    click.echo(f"next: see {directory / 'README.md'}")


COMMANDS = [build, export]
