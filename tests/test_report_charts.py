"""The build report's charts and diversity figures: PNG files that open, all linked from report.md and all there,
never another build's; distinct-n, pairwise similarity and topic coverage against hand-computed cases; status
pointing to the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.build.diversity import distinct_n, mean_pairwise_similarity, per_round, round_of
from tests.helpers import varied_examples, write_jsonl

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def linked(report: Path) -> list[Path]:
    """The files report.md links as images, resolved beside it."""
    return [report.parent / target for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())]


def assert_valid_png(path: Path) -> None:
    import matplotlib.image
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # something was drawn, not a blank canvas


def reviewed_project(project: Path) -> list[str]:
    """Write the reviews and generation rejects of two rounds into the project; returns the seed ids."""
    from pipeline.project import find_project
    from pipeline.schema import make_record
    from pipeline.seeds import load_seeds

    seeds = [r.id for r in load_seeds(find_project(project))]
    rows = []
    for i, example in enumerate(varied_examples(30, seed=5)):
        round_ = 1 if i < 20 else 2
        verdict = "rejected" if i % 4 == 3 else ("edited" if i % 5 == 0 else "accepted")
        provenance = {
            "source": "generated",
            "round": round_,
            "shots": seeds[i % 3 : i % 3 + 3],
            "topic": ["kitchen", "audio"][i % 2],
            "nearest_seed": seeds[0],
            "nearest_seed_similarity": round(0.05 + i / 100, 3),
        }
        rows.append(
            make_record(
                example, provenance, review={"verdict": verdict, "generated_id": f"g{i}", "task_id": i}
            ).model_dump()
        )
    write_jsonl(project / "outputs" / "reviewed.jsonl", rows)
    rejected = [
        {
            "id": f"r{i}",
            "example": {},
            "provenance": {"source": "generated", "round": 1},
            "reason": {"code": code, "detail": "..."},
        }
        for i, code in enumerate(["too-short"] * 3 + ["refusal"])
    ]
    write_jsonl(project / "outputs" / "rejected.jsonl", rejected)
    return seeds


def test_project_build_draws_every_chart_linked_from_the_report(project, run):
    reviewed_project(project)
    result = run("build", "--json")
    assert result.exit_code == 0, result.output
    out = project / "outputs"
    images = linked(out / "report.md")
    assert sorted(p.name for p in images) == ["acceptance.png", "rejections.png", "similarity.png", "tokens.png"]
    assert all(p.parent == out / "report-charts" for p in images)
    for image in images:
        assert_valid_png(image)
    assert sorted((out / "report-charts").iterdir()) == sorted(images)  # nothing drawn that the report leaves out
    assert "report-charts" in json.loads((out / "build.json").read_text())["files"]  # stamped with the build

    summary = json.loads(result.stdout)
    rounds = {r["round"]: r for r in summary["diversity"]}
    # 10 seeds, and of 30 reviews the 23 accepted and edited ones (5 of round 1 and 2 of round 2 are rejected),
    # less those held out for the test set
    assert list(rounds) == ["seeds", "round 1", "round 2"] and rounds["seeds"]["examples"] == 10
    assert rounds["round 1"]["examples"] + rounds["round 2"]["examples"] + summary["test"] == 23
    assert rounds["round 1"]["topic_coverage"] == pytest.approx(2 / 8)  # kitchen and audio of the demo's 8 topics
    assert (
        rounds["round 1"]["topics"]["kitchen"] + rounds["round 1"]["topics"]["audio"] == rounds["round 1"]["examples"]
    )
    assert rounds["seeds"]["topic_coverage"] is None
    report = (out / "report.md").read_text()
    assert (
        f"| round 1 | {rounds['round 1']['examples']} |" in report
        and "round 2 has no example about: outdoor gear, home office" in report
    )


def test_input_build_replaces_the_charts_of_the_build_before(project, run):
    reviewed_project(project)
    run("build")
    source = write_jsonl(project / "in.jsonl", varied_examples(20))
    assert run("build", "--input", str(source)).exit_code == 0
    out = project / "outputs"
    # an --input build has no reviews, rejects nor generated examples: only its token chart, no stale others
    assert [p.name for p in (out / "report-charts").iterdir()] == ["tokens.png"]
    assert linked(out / "report.md") == [out / "report-charts" / "tokens.png"]
    report = (out / "report.md").read_text()
    assert "not drawn: acceptance per round and per seed" in report and "| file | 20 |" in report


def test_a_failed_chart_leaves_the_previous_report_and_charts(project, run, monkeypatch):
    reviewed_project(project)
    run("build")
    out = project / "outputs"
    before = {p.name: p.read_bytes() for p in [out / "report.md", *(out / "report-charts").iterdir()]}
    import pipeline.build.report

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.build.report, "render_report", crash)  # once the charts are drawn
    with open(project / "ftboot.toml", "a") as handle:  # a report that would differ from the last one
        handle.write('\n[prices."gpt-4o-mini"]\ntraining = 3.0\n')
    with pytest.raises(OSError):
        run("build")
    after = {p.name: p.read_bytes() for p in [out / "report.md", *(out / "report-charts").iterdir()]}
    assert after == before
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_status_points_to_the_report_and_its_charts(project, run):
    assert json.loads(run("status", "--json").stdout)["report"] is None
    reviewed_project(project)
    run("build")
    status = run("status")
    assert "build report: outputs/report.md, with 4 charts in outputs/report-charts/" in status.output
    charts = json.loads(run("status", "--json").stdout)["report"]["charts"]
    assert charts == [f"outputs/report-charts/{n}.png" for n in ("acceptance", "rejections", "similarity", "tokens")]


CORPUS = ["The cat sat.", "the cat ran", "A dog sat!"]


def test_distinct_n_on_three_sentences():
    # words: the cat sat / the cat ran / a dog sat -> 6 distinct of 9
    assert distinct_n(CORPUS, 1) == pytest.approx(6 / 9)
    # bigrams: the-cat twice, cat-sat, cat-ran, a-dog, dog-sat -> 5 distinct of 6; none across two sentences
    assert distinct_n(CORPUS, 2) == pytest.approx(5 / 6)
    assert distinct_n(CORPUS, 3) == pytest.approx(3 / 3)
    assert distinct_n(["one"], 2) is None


def test_mean_pairwise_similarity_by_hand():
    # word 3-grams: {a b c, b c d}, {a b c, b c e}, {x y z}: Jaccard 1/3, 0, 0
    assert mean_pairwise_similarity(["a b c d", "a b c e", "x y z"]) == pytest.approx(1 / 9)
    assert mean_pairwise_similarity(["a b c d", "A b c, d"]) == 1.0
    assert mean_pairwise_similarity(["alone here now"]) is None


def test_rounds_and_topic_coverage():
    assert [round_of(p) for p in ({"source": "seed"}, {"source": "generated", "round": 3}, {"source": "file"})] == [
        "seeds",
        "round 3",
        "file",
    ]
    examples = [
        ({"source": "generated", "round": 2, "topic": "audio"}, "a b c"),
        ({"source": "generated", "round": 10, "topic": "audio"}, "d e f"),
        ({"source": "generated", "round": 2, "topic": "garden"}, "g h i"),
        ({"source": "seed"}, "j k l"),
    ]
    figures = per_round(examples, ["audio", "garden", "travel", "kids"])
    assert [f.name for f in figures] == ["seeds", "round 2", "round 10"]
    assert [f.topic_coverage for f in figures] == [None, 0.5, 0.25]
    assert figures[1].topics == {"audio": 1, "garden": 1, "travel": 0, "kids": 0}
    assert per_round(examples, [])[1].topic_coverage is None


def test_a_bad_line_in_rejected_jsonl_is_located_and_nothing_is_written(project, run):
    reviewed_project(project)
    run("build")
    out = project / "outputs"
    before = (out / "report.md").read_bytes()
    with open(out / "rejected.jsonl", "a") as handle:
        handle.write("[1, 2]\n")
    result = run("build")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: outputs/rejected.jsonl:5: must be a JSON object, not an array"
    assert (out / "report.md").read_bytes() == before
