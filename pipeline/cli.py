"""The `ftboot` command line: one thin click command per stage. Commands parse options, call the library and
print; the library raises `pipeline.errors` types, which `FtbootGroup` turns into one line, a hint and an exit
code (0 success, 1 run-time failure, 2 bad input or usage). Set FTBOOT_DEBUG=1 for the traceback.

Heavy libraries (datasets, openai, label_studio_sdk, rich) are imported inside the commands so that
`ftboot --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pipeline.errors import FtbootError, InputWarning

# Kept here (not imported from pipeline.export) so that `ftboot --help` imports nothing heavy.
EXPORT_TARGETS = ["trl", "axolotl", "unsloth", "vertex"]


class FtbootGroup(click.Group):
    """A click group that reports the project's errors as messages, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", InputWarning)
                warnings.showwarning = _show_input_warning(warnings.showwarning)
                return super().invoke(ctx)
        except FtbootError as exc:
            if os.environ.get("FTBOOT_DEBUG") == "1":
                raise
            for line in exc.lines():
                click.echo(f"error: {line}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to carry on where it stopped", err=True)
            ctx.exit(130)


def _show_input_warning(fallback: Callable[..., None]) -> Callable[..., None]:
    """A `warnings.showwarning` that prints the library's `InputWarning`s as `warning:` lines, others as before."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, InputWarning):
            click.secho(f"warning: {message}", fg="yellow", err=True)
        else:
            fallback(message, category, *args, **kwargs)

    return show


class Writes(click.Command):
    """A command that writes the project's outputs: it runs holding the project lock (`pipeline.lock`), except
    with --dry-run, which writes nothing. A second writer stops naming the first, or waits with --wait-lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["--wait-lock"], is_flag=True,
                                        help="If another command is writing this project, wait for it to finish."))

    def invoke(self, ctx: click.Context) -> Any:
        from pipeline.lock import project_lock

        wait = ctx.params.pop("wait_lock")
        if ctx.params.get("dry_run"):
            return super().invoke(ctx)
        with project_lock(project_of(ctx).outputs, ctx.command_path, wait):
            return super().invoke(ctx)


def project_of(ctx: click.Context):  # -> pipeline.config.Project
    """The project for this invocation, loaded once."""
    from pipeline.config import find_project

    root = ctx.find_root()
    if "project" not in root.meta:
        root.meta["project"] = find_project(root.params.get("project"))
    return root.meta["project"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@click.group(cls=FtbootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FTBOOT_PROJECT",
    help="Project directory (default: the current directory; env FTBOOT_PROJECT).",
)
@click.version_option(package_name="ftboot")
def cli(project: Path | None) -> None:
    """Bootstrap a fine-tuning dataset from a handful of hand-written examples.

    \b
    The stages, in order:
      ftboot seeds check      validate the hand-written seeds
      ftboot generate         few-shot generate candidates from them
      ftboot review push      send candidates to Label Studio
      ftboot review pull      bring reviewers' verdicts and corrections back
      ftboot build            validate, dedup, split: train.jsonl, val.jsonl
      ftboot upload           start a fine-tuning job (Fireworks, Bedrock, Together, ...)
      ftboot export           or write it for TRL, axolotl, Unsloth or Vertex AI
    `ftboot status` says where the project stands and what to run next.
    """


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Scaffold a new project: a commented ftboot.toml, an example seed file and outputs/.

    \b
    Example:
      ftboot init my-task && cd my-task && ftboot seeds check
    """
    from pipeline.project import init_project

    for path in init_project(directory):
        click.echo(f"created {path}")
    click.echo(f"next: edit {directory}/ftboot.toml and {directory}/seeds/, then `ftboot seeds check`")


@cli.group()
def seeds() -> None:
    """Work with the hand-written seed examples in seeds/."""


@seeds.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def seeds_check(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Validate seed files (default: every seeds/*.jsonl and seeds/*.yaml).

    Reports every error as file:line: field: problem (exit 2) and warns about too few seeds, duplicates and
    a missing system prompt.

    \b
    Examples:
      ftboot seeds check
      ftboot seeds check seeds/support.yaml
    """
    from pipeline.seeds import check_seeds

    project = project_of(ctx)
    result = check_seeds(project, list(paths) or None)
    if as_json:
        echo_json({"seeds": len(result.records), "files": result.files, "warnings": result.warnings})
        return
    print_warnings(result.warnings)
    click.echo(f"{len(result.records)} seeds OK in {len(result.files)} file(s)")


@cli.command(cls=Writes)
@click.option("--n", "n", type=click.IntRange(min=1), help="Accepted candidates to aim for in this round (default from ftboot.toml).")
@click.option("--backend", type=click.Choice(["local", "openai"]), help="local: the bundled offline model; openai: any OpenAI-compatible endpoint.")
@click.option("--model", help="Model name for --backend openai; a GGUF file for --backend local.")
@click.option("--mode", type=click.Choice(["chat", "completion"]), help="chat for instruction-tuned models, completion for base models.")
@click.option("--pool", type=click.Choice(["seeds", "reviewed"]), default="seeds", show_default=True,
              help="reviewed: accepted reviews join the seeds as shots (a new round).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at once (default 16).")
@click.option("--max-requests", type=click.IntRange(min=1), help="Stop before sending more requests than this.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Stop before prompt + output tokens could pass this.")
@click.option("--max-cost", type=click.FloatRange(min=0), help='Stop before the cost in USD could pass this (needs [prices."model"]).')
@click.option("--batch", is_flag=True, help="Send the planned requests as Batch API batches (about half price, "
              "answered within 24 h) and return; --backend openai only.")
@click.option("--collect", is_flag=True, help="Take in the answers of finished batches.")
@click.option("--resubmit", is_flag=True, help="Collect, then send the failed and expired requests again as a new batch.")
@click.option("--batch-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Only write the Batch API input file, for an engine such as `vllm run-batch`.")
@click.option("--collect-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take in a Batch API output file produced elsewhere (same --model, --mode, --pool as --batch-file).")
@click.option("--judge", "judge", is_flag=True, help="Score every candidate 1-5 with the [judge] model (a judge_score for review).")
@click.option("--min-score", type=click.IntRange(1, 5), help="With the judge: candidates scored below this become rejects (low-score).")
@click.option("--dry-run", is_flag=True, help="Print the first prompt and the planned number of requests; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def generate(ctx: click.Context, n: int | None, backend: str | None, model: str | None, mode: str | None, pool: str,
             concurrency: int | None, max_requests: int | None, max_tokens: int | None, max_cost: float | None,
             batch: bool, collect: bool, resubmit: bool, batch_file: Path | None, collect_file: Path | None,
             judge: bool, min_score: int | None, dry_run: bool, as_json: bool) -> None:
    """Few-shot generate candidates from the seeds into outputs/candidates.jsonl (rejects: rejected.jsonl).

    Every reply is cached; a rerun, or a run after Ctrl-C or a crash, carries on without paying twice.
    With --batch the requests go to the provider's Batch API instead; --collect takes the answers in through
    the same filters (outputs/batches.jsonl records every batch; `ftboot status` shows the open ones).

    \b
    Examples:
      ftboot generate --n 20 --dry-run
      ftboot generate --n 20 --backend local
      OPENAI_API_KEY=... ftboot generate --backend openai --model gpt-4o-mini --mode chat --n 500 --max-cost 2
      ftboot generate --pool reviewed --n 200
      ftboot generate --backend openai --n 20000 --batch        (later: --collect, then --resubmit)
      ftboot generate --backend openai --model my-model --n 5000 --batch-file requests.jsonl
    """
    from pipeline.generation.online import generate as run_generate
    from pipeline.generation.online import preview
    from pipeline.generation.run import Options

    project = project_of(ctx)
    options = Options(n=n, backend=backend, model=model, mode=mode, pool=pool, concurrency=concurrency,
                      max_requests=max_requests, max_tokens=max_tokens, max_cost=max_cost, judge=judge or min_score is not None,
                      min_score=min_score)
    chosen = [name for name, on in (("--batch", batch), ("--collect", collect), ("--resubmit", resubmit),
                                    ("--batch-file", batch_file), ("--collect-file", collect_file)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} do not go together: choose one")
    if chosen:
        _generate_batch(project, options, chosen[0], batch_file or collect_file, dry_run, as_json)
        return
    if dry_run:
        plan = preview(project, options)
        s = plan.summary
        line = (f"planned: {plan.planned} requests ({plan.cached} answered from the cache) for {s.target - s.existing} "
                f"more candidates in round {s.round}, {s.mode} mode, {s.model} at {s.endpoint}; nothing sent")
        if as_json:
            echo_json({"prompt": plan.prompt_text(), "planned_requests": plan.planned, "cached": plan.cached,
                       "request": plan.request.body(), **s.as_dict()})
            return
        click.echo(plan.prompt_text())
        click.echo(f"\n{line}")
        return
    with _GenerateProgress(enabled=not as_json) as progress:
        summary = run_generate(project, options, progress.update)
    if as_json:
        echo_json(summary.as_dict())
    else:
        _print_generate_summary(summary)
    if summary.error:
        raise summary.error


def _generate_batch(project: Any, options: Any, action: str, path: Path | None, dry_run: bool, as_json: bool) -> None:
    """--batch, --collect, --resubmit, --batch-file, --collect-file: call the batch stage and print its summary."""
    from pipeline.generation.batch import collect, send

    if dry_run and action in ("--collect", "--collect-file"):
        raise click.UsageError(f"--dry-run goes with --batch, --resubmit or --batch-file, not {action}")
    with progress_bar(as_json) as progress:
        if action in ("--collect", "--resubmit"):
            harvest = collect.collect(project, progress) if not dry_run else None
            sent = send.resubmit(project, options, dry_run, progress) if action == "--resubmit" else None
        elif action == "--collect-file":
            harvest, sent = collect.collect_file(project, options, path, progress), None
        else:
            harvest, sent = None, send.plan_batch(project, options, path, dry_run, progress)
    if as_json:
        echo_json({**({"collected": harvest.as_dict()} if harvest else {}),
                   **({"dry_run": dry_run, "planned": sent.as_dict()} if sent else {})})
        return
    for line in harvest.lines() if harvest else []:
        click.echo(line)
    if sent is None:
        return
    for line in sent.lines():
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing written or sent")
    elif action == "--batch-file" and sent.files:
        click.echo(f"next: run it elsewhere (e.g. vllm run-batch -i {sent.files[0]['path']} -o results.jsonl --model {sent.model}), "
                   "then `ftboot generate --collect-file results.jsonl` with the same --model, --mode and --pool")
    elif sent.files:
        click.echo("next: ftboot generate --collect  (a batch finishes within 24 h; `ftboot status` shows open batches)")


class _GenerateProgress:
    """A rich progress bar on stderr: candidates against the target, requests, rate, tokens, cost, rejects."""

    def __init__(self, enabled: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.bar: Any = None

    def __enter__(self) -> _GenerateProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("candidates"), BarColumn(bar_width=12), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console)
            self.bar.start()
            self.task = self.bar.add_task("generate", total=None, info="starting")
        return self

    def update(self, s: Any) -> None:
        if self.bar is None:
            return
        cost = f", ${s.cost:.4f}" if s.cost is not None else ""
        info = (f"{s.sent + s.cached} req, {s.requests_per_second:.3g}/s, {s.prompt_tokens + s.completion_tokens:,} tok"
                f"{cost}, {s.rejected} rejected")
        self.bar.update(self.task, completed=s.total, total=s.target, info=info)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_generate_summary(s: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"generate: round {s.round}, {s.model} at {s.endpoint} ({s.mode})", show_header=False)
    reasons = ", ".join(f"{code} {count}" for code, count in s.reasons.most_common())
    errors = ", ".join(f"{cause} {count}" for cause, count in s.errors.most_common())
    rows = [("candidates", f"{s.total} of {s.target} ({s.accepted} new, {s.existing} before)"),
            ("rejected", f"{s.rejected}" + (f" ({reasons})" if reasons else "")),
            ("requests", f"{s.sent} sent, {s.cached} from the cache, {s.retries} retries" + (f" ({errors})" if errors else "")
             + (f"; {s.billed_unusable} possibly billed, no answer" if s.billed_unusable else "")),
            ("tokens", f"{s.prompt_tokens:,} prompt, {s.completion_tokens:,} output"
             + (f" (worst case counted for {s.billed_unusable + s.without_usage} without usage)"
                if s.billed_unusable + s.without_usage else "")),
            ("cost", f"${s.cost:.4f}" if s.cost is not None else "unknown (no price configured for this model)"),
            ("time", f"{s.elapsed:.1f} s, {s.requests_per_second:.3g} requests/s")]
    for name, value in rows:
        table.add_row(name, value)
    if s.judge:
        table.add_row("judge", f"{s.judge['model']}: {s.judge['judged']} scored, {s.judge['failed']} without a score, "
                      f"{s.judge['low_score']} low-score; {s.judge['requests']['sent']} requests sent")
    console = Console()
    console.print(table)
    click.echo(s.stopped)
    if s.total:
        click.echo("next: ftboot review push")


@cli.command("judge", cls=Writes)
@click.option("--backend", type=click.Choice(["local", "openai"]), help="Where the judge runs (default: [judge] backend, else generation's).")
@click.option("--model", help="The judge model (default: [judge] model, else generation's).")
@click.option("--min-score", type=click.IntRange(1, 5), help="Candidates scored below this become rejects (low-score).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at once (default: generation's).")
@click.option("--max-requests", type=click.IntRange(min=1), help="Stop before sending more requests than this.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Stop before prompt + output tokens could pass this.")
@click.option("--max-cost", type=click.FloatRange(min=0), help='Stop before the cost in USD could pass this (needs [prices."model"]).')
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def judge_command(ctx: click.Context, backend: str | None, model: str | None, min_score: int | None, concurrency: int | None,
                  max_requests: int | None, max_tokens: int | None, max_cost: float | None, as_json: bool) -> None:
    """Score the candidates in outputs/candidates.jsonl that have no judge score yet (1-5, with a reason).

    For candidates collected from a batch, or generated before the judge was on. Scores are cached: judging
    again sends nothing. The file is rewritten atomically; --min-score moves low scores to rejected.jsonl.

    \b
    Examples:
      ftboot judge
      ftboot judge --model gpt-4.1 --min-score 3 --max-cost 1
    """
    from pipeline.generation.judge import run

    judged = run(project_of(ctx), backend, model, min_score, concurrency, max_requests, max_tokens, max_cost)
    if as_json:
        echo_json(judged.as_dict())
    else:
        click.echo(judged.line())


@cli.group()
def review() -> None:
    """Review candidates in Label Studio: push them, then pull the verdicts and corrections back.

    \b
    Start a local Label Studio first (it prints LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY):
      export $(ftboot labelstudio start | tail -2)
    """


@review.command("push", cls=Writes)
@click.option("--to-file", "to_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the tasks as Label Studio import JSON (and the labeling config beside it) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def review_push(ctx: click.Context, to_file: Path | None, as_json: bool) -> None:
    """Send the candidates in outputs/candidates.jsonl that the project does not have yet.

    \b
    Examples:
      ftboot review push
      ftboot review push --to-file tasks.json
    """
    from pipeline.review.sync import push

    with progress_bar(disabled=as_json) as update:
        result = push(project_of(ctx), to_file, progress=lambda done, total: update("importing tasks", done, total))
    if as_json:
        echo_json(result.summary())
    elif to_file is not None:
        click.echo(f"wrote {result.candidates} tasks: {', '.join(result.files)}")
    else:
        click.echo(f"{result.new} new tasks imported, {result.candidates - result.new} already there; review at {result.url}")
        click.echo("next: review in Label Studio, then `ftboot review pull`")


@review.command("pull", cls=Writes)
@click.option("--from-file", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read a JSON export saved from Label Studio instead of asking the server.")
@click.option("--policy", type=click.Choice(["latest", "majority", "unanimous"]),
              help="How several reviews of one task settle (default from ftboot.toml: latest).")
@click.option("--forget-missing", is_flag=True,
              help="Drop the reviews of earlier pulls that Label Studio no longer has (kept by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def review_pull(ctx: click.Context, from_file: Path | None, policy: str | None, forget_missing: bool,
                as_json: bool) -> None:
    """Bring every review in Label Studio into outputs/reviewed.jsonl and preferences.jsonl.

    Reviews that earlier pulls recorded and Label Studio no longer has (a deleted task or project, a reset
    server) stay, marked review.kept; each replaced file is first copied to outputs/history/.

    \b
    Examples:
      ftboot review pull
      ftboot review pull --policy majority
      ftboot review pull --from-file project-1-export.json
    """
    from pipeline.review.sync import pull

    result = pull(project_of(ctx), from_file, policy, forget_missing)
    if as_json:
        echo_json(result.summary())
        return
    print_warnings(result.notes + result.problems)
    click.echo(result.text())
    click.echo("next: ftboot build" + ("  (and `ftboot build --format dpo` for the preference set)" if result.preferences else ""))


@cli.group()
def labelstudio() -> None:
    """A local Label Studio for this project (data in .labelstudio/, its venv in a per-user cache).

    \b
    Examples:
      export $(ftboot labelstudio start | tail -2)   # sets LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY
      ftboot labelstudio status
      ftboot labelstudio stop
    """


def _data_dir(ctx: click.Context):  # -> pipeline.labelstudio.server.DataDir
    from pipeline.labelstudio.server import DataDir

    return DataDir.of(project_of(ctx).root)


def _note(line: str) -> None:
    click.echo(f"label-studio: {line}", err=True)


def _print_server(running: Any) -> None:
    click.echo(f"LABEL_STUDIO_URL={running.url}")
    click.echo(f"LABEL_STUDIO_API_KEY={running.api_key}")


@review.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def review_status(ctx: click.Context, as_json: bool) -> None:
    """Tasks done, pending and skipped; each reviewer's pace and rates; agreement; the time left (read-only).

    \b
    Example:
      ftboot review status
    """
    from pipeline.review.status import review_status as read_status

    result = read_status(project_of(ctx))
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(result.text())


@labelstudio.command("install")
def labelstudio_install() -> None:
    """Install Label Studio into its venv and migrate its database once (both cached per user).

    \b
    Example:
      ftboot labelstudio install
    """
    from pipeline.labelstudio.server import install, migrated_database

    migrated_database(install(_note), _note)


@labelstudio.command("start")
@click.option("--port", type=click.IntRange(1, 65535), envvar="LABEL_STUDIO_PORT", help="Port (default: a free one).")
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True, envvar="LABEL_STUDIO_START_TIMEOUT",
              help="Seconds to wait for the server to answer.")
@click.option("--database", "engine", type=click.Choice(["sqlite", "postgres"]),
              help="A new data dir's database (default sqlite; an existing data dir keeps its own).")
@click.option("--dsn", envvar="FTBOOT_LABELSTUDIO_DSN", metavar="DSN",
              help="With --database postgres: an existing server's database (postgresql://user:pw@host:5432/db); "
                   "without it ftboot runs a local cluster in the data dir. $FTBOOT_LABELSTUDIO_DSN keeps a "
                   "password out of `ps`.")
@click.pass_context
def labelstudio_start(ctx: click.Context, port: int | None, timeout: float, engine: str | None,
                      dsn: str | None) -> None:
    """Start this project's Label Studio (or find it running) and print its URL and API key.

    \b
    Examples:
      export $(ftboot labelstudio start | tail -2)
      export $(ftboot labelstudio start --database postgres | tail -2)
    """
    from pipeline.labelstudio.server import start

    if dsn and engine == "sqlite":
        raise click.UsageError("--dsn goes with --database postgres")
    data = _data_dir(ctx)
    running = start(data, _note, port=port, timeout=timeout, engine=engine, dsn=dsn or None)
    _note(f"running at {running.url} (data in {running.state}, log in {data.path('server.log')})")
    _print_server(running)


@labelstudio.command("status")
@click.pass_context
def labelstudio_status(ctx: click.Context) -> None:
    """Print the URL and API key while the server runs; exit code 3 when it does not.

    \b
    Example:
      ftboot labelstudio status
    """
    from pipeline.labelstudio.server import status as server_status

    running = server_status(_data_dir(ctx))
    if running is None:
        _note("not running")
        ctx.exit(3)
    _note(f"running at {running.url} (data in {running.state})")
    _print_server(running)


@labelstudio.command("add-reviewer")
@click.argument("email")
@click.pass_context
def labelstudio_add_reviewer(ctx: click.Context, email: str) -> None:
    """Create a reviewer's account (a generated password, printed once) on $LABEL_STUDIO_URL, else this
    project's local server.

    \b
    Example:
      ftboot labelstudio add-reviewer ana@example.com
    """
    import secrets

    from pipeline.labelstudio.adapter import Server
    from pipeline.labelstudio.server import status as server_status

    project = project_of(ctx)
    running = None if os.environ.get("LABEL_STUDIO_URL") else server_status(_data_dir(ctx))
    server = Server(running.url, running.api_key, "the local server's key") if running else Server.connect(project)
    password = secrets.token_urlsafe(12)
    server.add_reviewer(email, password)
    click.echo(f"reviewer {email} added at {server.url}; password (shown only now): {password}")


@labelstudio.command("stop")
@click.pass_context
def labelstudio_stop(ctx: click.Context) -> None:
    """Stop this project's Label Studio (and the local PostgreSQL cluster it runs on, if any).

    \b
    Example:
      ftboot labelstudio stop
    """
    from pipeline.labelstudio.server import stop

    _note("stopped" if stop(_data_dir(ctx)) else "not running")


def _stderr_console():  # -> rich.console.Console
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(disabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A transient rich progress display on stderr with one bar per step; yields update(step, done, total)."""
    from rich.progress import Progress

    console = _stderr_console()
    with Progress(console=console, transient=True, disable=disabled or not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update


@cli.command(cls=Writes)
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Build from this chat JSONL instead of seeds + accepted reviews.")
@click.option("--format", "fmt", type=click.Choice(["chat", "dpo"]), default="chat", show_default=True,
              help="chat: supervised set; dpo: preference set from reviewers' edits.")
@click.option("--target", help="Ruleset to validate against (default from ftboot.toml: openai).")
@click.option("--model", help="Target model, for its token limit (default from ftboot.toml).")
@click.option("--push-to-hub", "push_to_hub", metavar="REPO", help="Also push the DatasetDict to this Hub repo.")
@click.option("--export", "export_to", type=click.Choice(EXPORT_TARGETS),
              help="Then export the set to outputs/export-TARGET/ (as `ftboot export --to TARGET`).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build(ctx: click.Context, input_path: Path | None, fmt: str, target: str | None, model: str | None,
          push_to_hub: str | None, export_to: str | None, as_json: bool) -> None:
    """Validate, deduplicate and split into outputs/train.jsonl and val.jsonl, with report.md and dataset/.

    \b
    Examples:
      ftboot build
      ftboot build --input my-examples.jsonl --model gpt-4.1-nano
      ftboot build --format dpo
      ftboot build --export vertex
    """
    from pipeline.build.steps import build as run_build

    project = project_of(ctx)
    with progress_bar(disabled=as_json) as update:
        result = run_build(project, input_path=input_path, fmt=fmt, target=target, model=model, progress=update)
    if push_to_hub:
        from pipeline.upload.huggingface import push_built

        push_built(project, project.output("dataset-dpo" if fmt == "dpo" else "dataset"), push_to_hub)
    if as_json:
        echo_json(result.summary())
    else:
        click.echo(result.text_summary())
    if export_to:
        ctx.invoke(export, to=export_to, directory=project.output(f"export-{export_to}"), fmt=fmt, model=None,
                   as_json=as_json)


@cli.command()
@click.option("--to", "to", type=click.Choice(EXPORT_TARGETS), required=True,
              help="trl, axolotl, unsloth (local trainers) or vertex (Vertex AI tuning).")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["chat", "dpo"]), default="chat", show_default=True,
              help="chat: train.jsonl and val.jsonl; dpo: the preference set from `build --format dpo`.")
@click.option("--model", help="The base model the written config names (default: one suited to the target).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
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


@cli.command(cls=Writes)
@click.option("--provider", help="fireworks, bedrock, together, huggingface, openai or azure (from ftboot.toml; no default).")
@click.option("--model", help="The base model to fine-tune (default from ftboot.toml).")
@click.option("--format", "fmt", type=click.Choice(["chat", "dpo"]), default="chat", show_default=True,
              help="chat: train.jsonl and val.jsonl, supervised; dpo: the preference set from `build --format dpo`.")
@click.option("--dry-run", is_flag=True, help="Validate and show what would be sent and its estimated cost; send nothing.")
@click.option("--wait", is_flag=True, help="Follow the job until it succeeds, fails or is cancelled.")
@click.option("--status", "status_of", is_flag=False, flag_value="", default=None, metavar="[JOB_ID]",
              help="Follow a job already started (default: the last one in outputs/uploads.jsonl).")
@click.option("--force", is_flag=True, help="Start a job even though these files and settings already have one.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan or the result as JSON.")
@click.pass_context
def upload(ctx: click.Context, provider: str | None, model: str | None, fmt: str, dry_run: bool, wait: bool,
           status_of: str | None, force: bool, as_json: bool) -> None:
    """Send the final set to a fine-tuning service and start the job, or push the dataset to the Hugging Face Hub.

    The files are validated again against the provider's rules first; an invalid file is refused with the
    reasons and nothing is sent. Every upload and job is recorded in outputs/uploads.jsonl, never with a key.
    Ctrl-C while following stops following, not the job.

    \b
    Examples:
      ftboot upload --provider fireworks --dry-run
      ftboot upload --provider fireworks --wait
      ftboot upload --provider together --model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference --wait
      ftboot upload --format dpo
      ftboot upload --status
    """
    from pipeline import upload as up

    project = project_of(ctx)
    if status_of is not None:
        job_provider, job_id = up.job_provider(project, status_of or None, provider)
        _follow(ctx, project, job_provider, job_id, as_json)
        return
    chosen = up.get_provider(project, provider)
    plan = up.plan_upload(project, chosen, model, fmt)
    if dry_run:
        first = up.first_line(chosen, plan)
        if as_json:
            echo_json({"dry_run": True, **plan.as_dict(), "first_line": first})
        else:
            click.echo(plan.text())
            click.echo(f"first line  {json.dumps(first, ensure_ascii=False)}")
            click.echo("dry run: nothing was sent")
        return
    started = up.start_upload(project, chosen, plan, force)
    summary = {"provider": started.provider, "file_ids": started.file_ids, "reused": started.reused, "url": started.url,
               "job_id": started.job.id if started.job else None, "status": started.job.status if started.job else None}
    if started.job is None:
        if as_json:
            echo_json(summary)
        else:
            click.echo(f"pushed {plan.train.examples} training examples to {started.url}")
        return
    if not as_json:
        reused = f" (reused the uploaded {', '.join(started.reused)} file)" if started.reused else ""
        click.echo(f"uploaded {', '.join(f'{r} {i}' for r, i in started.file_ids.items())}{reused}")
        click.echo(f"started job {started.job.id} at {chosen.label}: {plan.model}, {plan.method} ({started.job.status})")
    if wait:
        _follow(ctx, project, chosen, started.job.id, as_json)
    elif as_json:
        echo_json(summary)
    else:
        click.echo(f"follow it with: ftboot upload --status {started.job.id}")


def _follow(ctx: click.Context, project: Any, provider: Any, job_id: str, as_json: bool) -> None:
    """Follow a job with a live status line; events are printed above it as they come."""
    from contextlib import nullcontext

    from rich.console import Console

    from pipeline.upload import follow

    console = Console(highlight=False, soft_wrap=True)
    # The live line only where it can be redrawn; a log gets the events and the final line.
    live = console.status(f"{job_id}: asking {provider.label}") if console.is_terminal else None
    update = None
    try:
        with live or nullcontext():
            for update in follow(project, provider, job_id):
                if not as_json:
                    for event in update.new_events:
                        console.print(f"  {event.message}", markup=False, style="red" if event.level == "error" else None)
                if live:
                    live.update(update.line())
    except KeyboardInterrupt:
        click.echo(f"stopped following; job {job_id} keeps running at {provider.label}. "
                   f"Pick it up again with: ftboot upload --status {job_id}", err=True)
        ctx.exit(130)
    assert update is not None
    job = update.job
    checkpoints = provider.checkpoints(job.id)
    if as_json:
        echo_json({"job_id": job.id, "status": job.status, "fine_tuned_model": job.fine_tuned_model,
                   "trained_tokens": job.trained_tokens, "train_loss": update.train_loss, "checkpoints": checkpoints})
        return
    click.echo(update.line())
    click.echo(f"job {job.id} succeeded: fine-tuned model {job.fine_tuned_model}")
    for point in checkpoints:
        click.echo(f"  checkpoint {point}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the count at each stage and the next command to run.

    \b
    Example:
      ftboot status
    """
    from pipeline.status import project_status

    report = project_status(project_of(ctx))
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(report.text())


@cli.group("eval", invoke_without_command=True)
@click.option("--systems", help="Comma-separated names of [eval.systems] tables (default: all).")
@click.option("--test", "test_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Evaluate on this chat JSONL instead of outputs/test.jsonl.")
@click.option("--judge", metavar="MODEL", help="Judge each pair of systems with this model ('local' for the bundled one).")
@click.option("--limit", type=int, help="Only the first N test items.")
@click.option("--max-requests", type=click.IntRange(min=1), help="Stop before sending more requests than this.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop before spending more US dollars than this (every model priced).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def eval_(ctx: click.Context, systems: str | None, test_path: Path | None, judge: str | None, limit: int | None,
          max_requests: int | None, max_cost: float | None, as_json: bool) -> None:
    """Ask every [eval.systems] table the held-out test prompts; score, compare, and say whether fine-tuning paid off.

    \b
    Examples:
      ftboot eval
      ftboot eval --systems few-shot,fine-tuned --judge gpt-4.1 --json
      ftboot eval --test my-test.jsonl --limit 50
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipeline.eval import Options, evaluate

    names = [n.strip() for n in systems.split(",") if n.strip()] if systems else None
    with progress_bar(disabled=as_json) as update:
        result = evaluate(project_of(ctx), Options(names, test_path, judge, limit, max_requests, max_cost), update)
    if as_json:
        for pair in result["pairwise"].values():
            for side in ("judge", "human"):
                for detail in ("items", "outcomes"):
                    (pair.get(side) or {}).pop(detail, None)
        echo_json(result)
        return
    click.echo(f"{result['test_items']} test items; {result['requests']['sent']} requests sent, "
               f"{result['requests']['cached']} answered from the cache")
    for name, row in result["systems"].items():
        click.echo(f"  {name:<16} chrF {row['chrf']['mean']:5.1f} {row['chrf']['ci']}  ROUGE-L {row['rougeL']['mean']:5.1f} "
                   f"{row['rougeL']['ci']}  {row['tokens_per_answer']:.0f} tokens/answer  p50 {row['latency_p50_s']:.2f} s")
    for pair, row in result["pairwise"].items():
        judged = row["judge"]
        click.echo(f"  {pair}: judge {judged['wins']} wins / {judged['ties']} ties / {judged['losses']} losses")
    click.echo(f"verdict: {result['verdict']}\nwrote outputs/eval/eval.md (with scores.png, cost-quality.png)")


@eval_.command("push")
@click.option("--pair", required=True, metavar="A,B", help="The two systems of the last eval to compare.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def eval_push(ctx: click.Context, pair: str, as_json: bool) -> None:
    """Make a blind pairwise Label Studio project of two systems' answers (random order, names hidden).

    \b
    Example:
      ftboot eval push --pair few-shot,fine-tuned
    """
    from pipeline.eval.human import push

    summary = push(project_of(ctx), pair)
    if as_json:
        echo_json(summary)
        return
    click.echo(f"{summary['pair']}: pushed {summary['pushed']} tasks ({summary['already']} were there); judge them at "
               f"{summary['url']}\nthen: ftboot eval pull")


@eval_.command("pull")
@click.option("--json", "as_json", is_flag=True, help="Print the human results as JSON.")
@click.pass_context
def eval_pull(ctx: click.Context, as_json: bool) -> None:
    """Read the human pairwise judgements back: win rates, and how often the LLM judge agrees with people.

    \b
    Example:
      ftboot eval pull
    """
    from pipeline.eval.human import pull

    results = pull(project_of(ctx))
    if as_json:
        echo_json(results)
        return
    for pair, human in results.items():
        agree = "no judge run to compare" if human["judge_agreement"] is None else \
            f"the LLM judge agrees on {100 * human['judge_agreement']:.0f}%"
        click.echo(f"{pair}: humans {human['wins']} wins / {human['ties']} ties / {human['losses']} losses "
                   f"over {human['judgements']} judgements; {agree}")
    click.echo("updated outputs/eval/eval.md")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ftboot")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
