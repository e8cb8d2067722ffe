"""`review status` reads the project's own Label Studio database directly and any other server through the export
snapshot; both reads give the same figures (reviews, an update, an edit, a skip, a draft, two reviewers)."""

from __future__ import annotations

import pytest

from pipeline.labelstudio import db as lsdb
from pipeline.project import find_project
from pipeline.review.status import review_status
from tests.helpers import varied_examples
from tests.test_review import push, reviewer_for, write_candidates


def test_the_database_read_and_the_export_give_the_same_figures(
    review_project, run, labelstudio, monkeypatch, tmp_path
):
    config = review_project / "ftboot.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[labelstudio]", "[labelstudio]\noverlap = 2"))
    ids = write_candidates(review_project, varied_examples(6, seed=5))
    push(run)
    reviewer = reviewer_for(review_project, labelstudio)
    tasks = reviewer.tasks()
    first = reviewer.submit(tasks[ids[0]], "reject", by="ana@example.com", lead_time=7)
    reviewer.update(first, tasks[ids[0]], "accept", edits={1: "Fixed by hand after a second look."})
    reviewer.submit(tasks[ids[0]], "accept", by="ben@example.com", lead_time=30)
    reviewer.submit(tasks[ids[1]], "reject", by="ana@example.com", lead_time=9)
    reviewer.submit(tasks[ids[1]], "accept", edits={1: "Another wording."}, by="ben@example.com", lead_time=11)
    reviewer.submit(tasks[ids[2]], "accept", by="ben@example.com", lead_time=4)
    reviewer.submit(tasks[ids[3]], None, cancelled=True, by="ana@example.com")
    reviewer.draft(tasks[ids[4]], "reject")
    project = find_project(review_project)

    assert lsdb.local_data(project.root, labelstudio.url) is not None
    from_database = review_status(project).as_dict()
    monkeypatch.setenv("LABEL_STUDIO_DATA_DIR", str(tmp_path / "not-this-server"))
    assert lsdb.local_data(project.root, labelstudio.url) is None
    from_export = review_status(project).as_dict()

    assert from_database == from_export
    assert (from_database["done"], from_database["pending"], from_database["skipped"]) == (2, 3, 1)
    assert from_database["reviewers"]["ana@example.com"] == {
        "tasks": 2,
        "median_seconds": pytest.approx(8.0),
        "acceptance_rate": 0.5,
        "edit_rate": 1.0,
    }
    assert from_database["reviewers"]["ben@example.com"]["edit_rate"] == pytest.approx(1 / 3, abs=1e-3)
