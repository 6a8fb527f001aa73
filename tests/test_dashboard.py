"""The dashboard over HTTP: what the page carries, the event stream, the details of an
experiment, who may ask, what it refuses, and that it writes nothing. The browser's view is
in test_dashboard_browser.py."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dashboard_helpers import BASELINE, NIGHT, SCRIPT, TAG, new_project
from helpers import PY, environment, git

from autoresearch.dashboard import render_static, serve
from autoresearch.errors import ConfigError, EnvironmentProblem
from autoresearch.ledger import append_event, read_events
from autoresearch.state import locate

STREAM_TIMEOUT_S = 60  # only guards against a hang


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path, BASELINE + NIGHT)


@pytest.fixture
def dashboard(project: Path):
    server = serve(project, port=0)
    yield server
    server.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=STREAM_TIMEOUT_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def page_data(html: str) -> dict:
    return json.loads(re.search(r'id="dashboard-data">(.*?)</script>', html, re.DOTALL).group(1))


def rows(html: str) -> list[tuple[int, str, str]]:
    return [(r["n"], r["status"], r["description"]) for r in page_data(html)["rows"]]


def test_the_page_carries_the_experiments_and_the_headline(dashboard):
    status, html = get(dashboard.url)
    assert status == 200
    assert rows(html) == [(1, "keep", "baseline"), (2, "keep", "raise lr"),
                          (3, "discard", SCRIPT), (4, "crash", "double width")]
    summary = page_data(html)["summary"]
    assert {key: summary[key] for key in ("tag", "metric", "direction", "experiments", "kept",
                                          "discarded", "crashed", "baseline", "best")} == {
        "tag": TAG, "metric": "val_bpb", "direction": "lower_is_better", "experiments": 4,
        "kept": 2, "discarded": 1, "crashed": 1, "baseline": 1.0, "best": 0.9}
    assert summary["keep_rate"] == pytest.approx(1 / 3)
    crash = page_data(html)["rows"][3]
    assert crash["error"] == "CUDA out of memory"


def test_what_an_agent_wrote_cannot_close_the_data_element(dashboard):
    _, html = get(dashboard.url)
    assert "<script>window.pwned" not in html
    assert "<img" not in html
    assert html.count("<script") == 2  # the data and the page's own script


def test_an_experiment_opens_its_diff_and_its_run_log(dashboard, project):
    _, html = get(dashboard.url)
    by_description = {r["description"]: r["sha"] for r in page_data(html)["rows"]}
    status, body = get(f"{dashboard.url}experiment?commit={by_description['raise lr']}")
    assert status == 200
    details = json.loads(body)
    assert "-VALUE = 1.0\n+VALUE = 0.9\n" in details["diff"]
    assert details["log"] == "epoch 1\nval_bpb: 0.9\n"
    crash = json.loads(get(f"{dashboard.url}experiment?commit={by_description['double width']}")[1])
    assert crash["log"].endswith("RuntimeError: CUDA out of memory\n")


@pytest.mark.parametrize("commit", ["0" * 40, "HEAD", "--output=/tmp/x", ""])
def test_only_an_experiment_commit_has_details(dashboard, commit):
    assert get(f"{dashboard.url}experiment?commit={commit}") == (
        404, "no experiment has that commit\n")


def read_event(stream) -> tuple[str, dict]:
    """The next named event of a server-sent event stream (comments skipped)."""
    name, data = None, None
    for raw in stream:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: "):])
        elif not line and name:
            return name, data
    raise AssertionError("the stream ended")


def test_the_event_stream_sends_what_is_appended(dashboard, project):
    with urllib.request.urlopen(f"{dashboard.url}events?since=4",
                                timeout=STREAM_TIMEOUT_S) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert read_event(stream) == ("live", None)  # the loop has ended
        layout = locate(project)
        [last] = [r for r in read_events(layout.ledger)[0] if r["action"] == "experiment_done"][-1:]
        again = {**last["details"], "number": 5, "description": "appended"}
        append_event(layout.ledger, "experiment_done", "success", again)
        name, data = read_event(stream)
    assert name == "experiments"
    assert data["start"] == 4
    assert [(r["n"], r["description"]) for r in data["rows"]] == [(5, "appended")]
    assert data["summary"]["experiments"] == 5


def test_a_reconnecting_page_gets_only_what_it_lacks(dashboard):
    request = urllib.request.Request(f"{dashboard.url}events?since=1",
                                     headers={"Last-Event-ID": "3"})
    with urllib.request.urlopen(request, timeout=STREAM_TIMEOUT_S) as stream:
        name, data = read_event(stream)
    assert (name, data["start"], [r["n"] for r in data["rows"]]) == ("experiments", 3, [4])


def test_a_page_of_the_most_recent_tag_moves_to_a_tag_set_up_later(dashboard, project):
    _, html = get(dashboard.url)
    assert (page_data(html)["tag"], page_data(html)["follow"]) == (TAG, True)
    with urllib.request.urlopen(f"{dashboard.url}events?tag={TAG}&follow=1&since=4",
                                timeout=STREAM_TIMEOUT_S) as stream:
        assert read_event(stream)[0] == "live"
        layout = locate(project)
        first = read_events(layout.ledger)[0][0]
        layout.tag_file.write_text("dec3\n")
        append_event(layout.ledger, "experiment_done", "success",
                     {**first["details"], "tag": "dec3", "description": "new baseline"})
        name, data = read_event(stream)
    assert (name, data["tag"], data["start"]) == ("experiments", "dec3", 0)
    assert [r["description"] for r in data["rows"]] == ["new baseline"]
    _, html = get(dashboard.url + f"?tag={TAG}")
    assert page_data(html)["follow"] is False


def test_beyond_localhost_every_request_needs_the_token(project):
    server = serve(project, host="0.0.0.0", port=0)
    try:
        token = re.search(r"\?token=([\w-]+)$", server.url).group(1)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for path in ("/", "/events", "/experiment?commit=" + "0" * 40, "/?token=wrong"):
            assert get(base + path) == (
                403, "forbidden: open the URL autoresearch dashboard printed\n"), path
        assert get(f"{base}/?token={token}")[0] == 200
    finally:
        server.close()
    assert len(token) >= 20


def test_run_prints_the_url_with_its_token_and_serves_until_stopped(project):
    code = ("import sys; from pathlib import Path; from autoresearch.dashboard import run; "
            "run(Path(sys.argv[1]), host='0.0.0.0', port=0)")
    server = subprocess.Popen([PY, "-c", code, str(project)], stdout=subprocess.PIPE, text=True,
                              env=environment(project.parent))
    try:
        line = server.stdout.readline()
        match = re.fullmatch(rf"dashboard of {re.escape(str(project))}: "
                             r"http://[^/:]+:(\d+)/\?token=([\w-]{20,})\n", line)
        assert match, line
        port, token = match.groups()
        assert get(f"http://127.0.0.1:{port}/?token={token}")[0] == 200
        assert get(f"http://127.0.0.1:{port}/")[0] == 403
    finally:
        server.terminate()
        server.wait(timeout=60)


def request_with_host(server, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    connection.request("GET", "/", headers={"Host": host})
    status = connection.getresponse().status
    connection.close()
    return status


def test_on_localhost_a_page_from_another_site_is_refused(dashboard):
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
    assert request_with_host(dashboard, "evil.example:8787") == 403
    assert request_with_host(dashboard, "localhost:9000") == 200  # an SSH tunnel's port


def test_the_most_recent_tag_is_shown_and_another_can_be_chosen(project, dashboard):
    layout = locate(project)
    first = read_events(layout.ledger)[0][0]
    append_event(layout.ledger, "experiment_done", "success",
                 {**first["details"], "tag": "older", "description": "older baseline"})
    _, html = get(dashboard.url)
    assert page_data(html)["tag"] == TAG
    assert page_data(html)["tags"] == [TAG, "older"]
    _, html = get(dashboard.url + "?tag=older")
    assert rows(html) == [(1, "keep", "older baseline")]
    assert get(dashboard.url + "?tag=nope")[0] == 404
    with pytest.raises(ConfigError, match=f"--tag nope: no experiments with this tag in "
                                          f"{re.escape(str(layout.ledger))}; logged tags: "
                                          f"{TAG}, older$"):
        serve(project, port=0, tag="nope")


def test_without_the_ledger_the_jsonl_mirror_is_read(project):
    layout = locate(project)
    layout.ledger.unlink()
    server = serve(project, port=0)
    try:
        assert [n for n, _, _ in rows(get(server.url)[1])] == [1, 2, 3, 4]
    finally:
        server.close()


def listing(*roots: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_mtime_ns, path.stat().st_size)
            for root in roots for path in root.rglob("*")}


def test_the_dashboard_writes_nothing(project, tmp_path):
    before = listing(project)  # the state directory is inside .git
    server = serve(project, port=0)
    _, html = get(server.url)
    for row in page_data(html)["rows"]:
        assert get(f"{server.url}experiment?commit={row['sha']}")[0] == 200
    with urllib.request.urlopen(f"{server.url}events", timeout=STREAM_TIMEOUT_S) as stream:
        read_event(stream)
    server.close()
    render_static(project, tmp_path / "report.html")
    assert listing(project) == before


def test_serving_refuses_what_it_cannot_do(project, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match=rf"^cannot listen on 127.0.0.1:{port}: "
                                                     r"Address already in use; choose another "
                                                     r"--port or --host$"):
            serve(project, port=port)
    with pytest.raises(ConfigError, match=r"^--port 70000: not a port; use 1 to 65535"):
        serve(project, port=70000)
    with pytest.raises(ConfigError, match="no such project directory"):
        serve(tmp_path / "missing", port=0)
    (tmp_path / "plain").mkdir()
    with pytest.raises(EnvironmentProblem, match="is not inside a git repository"):
        serve(tmp_path / "plain", port=0)


def test_the_static_report_inlines_everything_and_may_connect_nowhere(project, tmp_path):
    out = render_static(project, tmp_path / "out" / "report.html")
    html = out.read_text()
    data = page_data(html)
    assert data["mode"] == "static"
    assert [r["n"] for r in data["rows"]] == [1, 2, 3, 4]
    assert sorted(data["details"]) == sorted(r["sha"] for r in data["rows"])
    assert "connect-src 'none'" in html and "default-src 'none'" in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)


def test_a_static_report_that_cannot_be_written_is_one_line(project, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match=r"^--html .*taken: cannot write it: "):
        render_static(project, tmp_path / "taken")


def test_a_discarded_commit_git_no_longer_has_says_so(project, dashboard):
    _, html = get(dashboard.url)
    discard = next(r for r in page_data(html)["rows"] if r["status"] == "discard")
    git(project, "reflog", "expire", "--expire=now", "--all")
    git(project, "gc", "--prune=now", "--quiet")
    details = json.loads(get(f"{dashboard.url}experiment?commit={discard['sha']}")[1])
    assert details["diff"] == f"commit {discard['commit']} is no longer in the repository"
