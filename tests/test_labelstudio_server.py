"""`ftboot labelstudio` for a second project: its own `.labelstudio/` (0700) with its own admin and key, and
credential variables changed after the first start applied to the admin (or one line saying why not)."""

from __future__ import annotations

import os
import re

import httpx

from tests.labelstudio_fixtures import ftboot_labelstudio, server_env, server_lines


def logs_in(url: str, email: str, password: str) -> bool:
    """Log in through Label Studio's login form, as a browser does."""
    with httpx.Client(base_url=url, timeout=30) as http:
        form = http.get("/user/login/").raise_for_status()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        answer = http.post(
            "/user/login/",
            data={"csrfmiddlewaretoken": token, "email": email, "password": password},
            headers={"Referer": f"{url}/user/login/"},
        )
        return answer.status_code == 302 and "/user/login" not in answer.headers.get("location", "")


def test_a_second_project_has_its_own_server_and_changed_credentials_reach_the_admin(project, labelstudio):
    env = server_env(LABEL_STUDIO_USERNAME="ana@example.com", LABEL_STUDIO_PASSWORD="first-password")
    started = ftboot_labelstudio("start", env, project)
    assert started.returncode == 0, started.stderr
    try:
        state = project / ".labelstudio"
        assert oct(os.stat(state).st_mode)[-3:] == "700" and (state / "data" / "label_studio.sqlite3").exists()
        first = server_lines(started.stdout)
        assert first["LABEL_STUDIO_URL"] != labelstudio.url and first["LABEL_STUDIO_API_KEY"] != labelstudio.api_key
        url = first["LABEL_STUDIO_URL"]
        assert logs_in(url, "ana@example.com", "first-password")

        # a later start with other values, server running: the admin takes them, with the same key
        changed = server_env(LABEL_STUDIO_USERNAME="ben@example.com", LABEL_STUDIO_PASSWORD="second-password")
        again = ftboot_labelstudio("start", changed, project)
        assert again.returncode == 0, again.stderr
        assert "admin updated" in again.stderr and "second-password" not in again.stderr + again.stdout
        assert server_lines(again.stdout) == first
        assert logs_in(url, "ben@example.com", "second-password")
        assert not logs_in(url, "ana@example.com", "first-password")
        headers = {"Authorization": f"Token {first['LABEL_STUDIO_API_KEY']}"}
        assert httpx.get(f"{url}/api/current-user/whoami", headers=headers).json()["email"] == "ben@example.com"

        # an email that is another account's is not taken over: one line says so, the saved login still works
        httpx.post(
            f"{url}/api/users/",
            headers=headers,
            json={"email": "cy@example.com", "username": "cy", "password": "cy-password-1"},
        ).raise_for_status()
        refused = ftboot_labelstudio("start", server_env(LABEL_STUDIO_USERNAME="cy@example.com"), project)
        assert refused.returncode == 0
        [line] = [text for text in refused.stderr.splitlines() if "not applied" in text]
        assert "cy@example.com is already another account" in line
        assert logs_in(url, "ben@example.com", "second-password")
    finally:
        assert ftboot_labelstudio("stop", server_env(), project).returncode == 0
    assert ftboot_labelstudio("status", server_env(), project).returncode == 3
