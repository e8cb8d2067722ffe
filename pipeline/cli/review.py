"""`ftboot review push|pull|status`: send candidates to Label Studio, bring the reviews back, read the progress.

Syncing is `pipeline.review`'s; this module prints its results. Running a local Label Studio is
`pipeline.cli.labelstudio`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import EXISTING_FILE, Writes, echo_json, json_option, print_warnings, progress_bar, project_of


@click.group()
def review() -> None:
    """Review candidates in Label Studio: push them, then pull the verdicts and corrections back.

    \b
    Start a local Label Studio first (it prints LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY):
      export $(ftboot labelstudio start | tail -2)
    """


@review.command("push", cls=Writes)
@click.option(
    "--to-file",
    "to_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tasks as Label Studio import JSON (and the labeling config beside it) instead.",
)
@json_option("the summary")
@click.pass_context
def review_push(ctx: click.Context, to_file: Path | None, as_json: bool) -> None:
    """Send the candidates in outputs/candidates.jsonl that the project does not have yet.

    \b
    Examples:
      ftboot review push
      ftboot review push --to-file tasks.json
    """
    from pipeline.review.push import push

    with progress_bar(disabled=as_json) as update:
        result = push(project_of(ctx), to_file, progress=update)
    if as_json:
        echo_json(result.summary())
    elif to_file is not None:
        click.echo(f"wrote {result.candidates} tasks: {', '.join(result.files)}")
    else:
        click.echo(
            f"{result.new} new tasks imported, {result.candidates - result.new} already there; review at {result.url}"
        )
        click.echo("next: review in Label Studio, then `ftboot review pull`")


@review.command("pull", cls=Writes)
@click.option(
    "--from-file",
    "from_file",
    type=EXISTING_FILE,
    help="Read a JSON export saved from Label Studio instead of asking the server.",
)
@click.option(
    "--policy",
    type=click.Choice(["latest", "majority", "unanimous"]),
    help="How several reviews of one task settle (default from ftboot.toml: latest).",
)
@click.option(
    "--forget-missing",
    is_flag=True,
    help="Drop the reviews of earlier pulls that Label Studio no longer has (kept by default).",
)
@json_option("the summary")
@click.pass_context
def review_pull(
    ctx: click.Context, from_file: Path | None, policy: str | None, forget_missing: bool, as_json: bool
) -> None:
    """Bring every review in Label Studio into outputs/reviewed.jsonl and preferences.jsonl.

    Reviews that earlier pulls recorded and Label Studio no longer has (a deleted task or project, a reset
    server) stay, marked review.kept; each replaced file is first copied to outputs/history/.

    \b
    Examples:
      ftboot review pull
      ftboot review pull --policy majority
      ftboot review pull --from-file project-1-export.json
    """
    from pipeline.review.pull import pull

    result = pull(project_of(ctx), from_file, policy, forget_missing)
    if as_json:
        echo_json(result.summary())
        return
    print_warnings(result.notes + result.problems)
    click.echo(pull_text(result))
    click.echo(
        "next: ftboot build"
        + ("  (and `ftboot build --format dpo` for the preference set)" if result.preferences else "")
    )


def pull_text(result: Any) -> str:  # result: pipeline.review.pull.PullResult
    """A pull's counts and rates, the judge against the verdicts, what was kept, per seed the worst first."""
    s, pct = result.summary(), lambda x: "–" if x is None else f"{x:.0%}"
    lines = [
        f"{s['reviewed']} reviewed of {s['tasks']} tasks: {s['accepted']} accepted, {s['edited']} accepted "
        f"with edits, {s['rejected']} rejected; {s['skipped']} skipped, {s['pending']} pending",
        f"acceptance {pct(s['acceptance_rate'])}, edits {pct(s['edit_rate'])} of accepted; "
        f"{s['preferences']} preference pairs; policy {result.policy}",
    ]
    if result.judge:
        auc = result.judge["roc_auc"]
        per = ", ".join(
            f"{score}: {pct(r['acceptance_rate'])} of {r['reviewed']}" for score, r in result.judge["per_score"].items()
        )
        lines.append(
            f"judge scores vs verdicts on {result.judge['scored']} reviewed: ROC AUC "
            f"{'–' if auc is None else f'{auc:.2f}'} (0.5 is chance); accepted per score {per}"
        )
    if result.several:
        lines.append(f"agreement {pct(s['agreement'])} on {result.several} tasks with several reviews")
    m = result.merged
    if m.kept:
        lines.append(
            f"kept {m.kept} reviews from earlier pulls that Label Studio no longer has ({m.kept_now} first "
            f"missed now; marked review.kept in reviewed.jsonl; --forget-missing drops them)"
        )
    if m.forgotten or m.preferences_forgotten:
        lines.append(
            f"forgot {m.forgotten} reviews and {m.preferences_forgotten} preference pairs from earlier "
            f"pulls that Label Studio no longer has (--forget-missing)"
        )
    if m.history:
        lines.append(f"the previous files are in {', '.join(m.history)}")
    worst = sorted(s["per_seed"].items(), key=lambda kv: (kv[1]["acceptance_rate"] or 0, -kv[1]["reviewed"]))
    if worst:
        lines.append("per seed used as a shot (lowest acceptance first):")
        lines += [
            f"  {seed:<18} {r['reviewed']:>5} reviewed  {pct(r['acceptance_rate']):>4} accepted  "
            f"{pct(r['edit_rate']):>4} edited"
            for seed, r in worst[:15]
        ]
        if len(worst) > 15:
            lines.append(f"  … and {len(worst) - 15} more seeds (see --json)")
    return "\n".join(lines)


def status_text(status: Any) -> str:  # status: pipeline.review.status.ReviewStatus
    """Done, pending and skipped; each reviewer's pace and rates; agreement; the time left."""
    pct = lambda x: "–" if x is None else f"{x:.0%}"  # noqa: E731
    lines = [
        f"{status.done} done, {status.pending} pending, {status.skipped} skipped of {status.tasks} tasks "
        f"(each waits for {status.overlap} review{'s' if status.overlap > 1 else ''})"
    ]
    for who, r in sorted(status.reviewers.items()):
        median = "–" if r["median_seconds"] is None else f"{r['median_seconds']:.0f} s"
        lines.append(
            f"  {who:<28} {r['tasks']:>6} tasks  {median:>6} per task  {pct(r['acceptance_rate']):>4} "
            f"accepted  {pct(r['edit_rate']):>4} edited"
        )
    if status.agreement:
        a = status.agreement
        lines.append(f"agreement: {a['method']} kappa {a['kappa']:.2f} on {a['tasks']} tasks")
    if status.seconds_left is not None:
        lines.append(f"time left at this pace: about {status.seconds_left / 3600:.1f} h")
    return "\n".join(lines)


@review.command("status")
@json_option("the figures")
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
    click.echo(status_text(result))


COMMANDS = [review]
