"""`ftboot labelstudio start --database postgres`: a local cluster on its own socket only, stopped with Label
Studio and started again with its data; a data dir that keeps its database; a team's server given by a DSN,
whose password is never shown, and which `stop` leaves running."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from pipeline.labelstudio import pgcluster, storage
from tests.labelstudio_fixtures import ADMIN, ftboot_labelstudio, server_env, server_lines


def test_the_session_cluster_listens_on_its_socket_only_and_the_data_dir_keeps_its_database(labelstudio):
    database = storage.database(labelstudio.state)
    where = Path(database.host)
    assert pgcluster.running(where) and oct(os.stat(where).st_mode)[-3:] == "700"
    with database.connect() as db:
        assert db.execute("SHOW listen_addresses").fetchone()[0] == ""
        assert db.execute("SELECT count(*) FROM htx_user WHERE email = %s", (ADMIN,)).fetchone()[0] == 1
    refused = ftboot_labelstudio(["start", "--database", "sqlite"], labelstudio.env)
    assert refused.returncode == 1 and "already uses a local PostgreSQL" in refused.stderr
    assert not (labelstudio.state / "data" / "label_studio.sqlite3").exists()


def test_a_local_cluster_stops_with_label_studio_and_starts_again_with_its_data(project):
    env = server_env(LABEL_STUDIO_USERNAME="ana@example.com", LABEL_STUDIO_PASSWORD="ana-password-1")
    state = project / ".labelstudio"
    started = ftboot_labelstudio(["start", "--database", "postgres"], env, project)
    assert started.returncode == 0, started.stderr
    where = pgcluster.cluster_dir(state)
    try:
        first = server_lines(started.stdout)
        headers = {"Authorization": f"Token {first['LABEL_STUDIO_API_KEY']}"}
        httpx.post(
            f"{first['LABEL_STUDIO_URL']}/api/projects", headers=headers, json={"title": "kept across restarts"}
        ).raise_for_status()
        assert ftboot_labelstudio("stop", env, project).returncode == 0
        assert not pgcluster.running(where)
        assert ftboot_labelstudio("status", env, project).returncode == 3

        again = ftboot_labelstudio("start", env, project)  # no --database: the data dir's own
        assert again.returncode == 0, again.stderr
        second = server_lines(again.stdout)
        assert second["LABEL_STUDIO_API_KEY"] == first["LABEL_STUDIO_API_KEY"]
        titles = httpx.get(f"{second['LABEL_STUDIO_URL']}/api/projects", headers=headers).raise_for_status().json()
        assert [p["title"] for p in titles["results"]] == ["kept across restarts"]
    finally:
        ftboot_labelstudio("stop", env, project)
        if (state / "postgres").is_symlink():
            subprocess.run(["rm", "-rf", str(where)], check=False)


def test_a_dsn_server_is_used_as_given_never_shown_and_left_running(project, labelstudio):
    """Another project's Label Studio on the session's cluster, as a team shares one database server."""
    team = storage.database(labelstudio.state)
    password = "team-secret-4711"  # the socket trusts its owner; a team's server would check it
    dsn = f"postgresql://{team.user}:{password}@/{team.dbname}?host={team.host}"
    env = server_env(
        LABEL_STUDIO_USERNAME="lead@example.com", LABEL_STUDIO_PASSWORD="lead-password-1", FTBOOT_LABELSTUDIO_DSN=dsn
    )
    started = ftboot_labelstudio(["start", "--database", "postgres"], env, project)
    try:
        assert started.returncode == 0, started.stderr
        lines = server_lines(started.stdout)
        assert lines["LABEL_STUDIO_URL"] != labelstudio.url
        state = project / ".labelstudio"
        assert not (state / "postgres").exists() and oct(os.stat(state / "database").st_mode)[-3:] == "600"
        pid = (state / "server.pid").read_text().strip()
        shown = (
            started.stdout
            + started.stderr
            + (state / "server.log").read_text(encoding="utf-8")
            + subprocess.run(["ps", "-ww", "-o", "args=", "-p", pid], capture_output=True, text=True).stdout
        )
        assert password not in shown
        headers = {"Authorization": f"Token {lines['LABEL_STUDIO_API_KEY']}"}
        httpx.post(
            f"{lines['LABEL_STUDIO_URL']}/api/projects",
            headers=headers,
            json={"title": "made through the team's server"},
        ).raise_for_status()
        with team.connect() as db:
            assert (
                db.execute(
                    "SELECT count(*) FROM project WHERE title = %s", ("made through the team's server",)
                ).fetchone()[0]
                == 1
            )
    finally:
        assert ftboot_labelstudio("stop", env, project).returncode == 0
    assert pgcluster.running(Path(team.host))  # not ours to stop
