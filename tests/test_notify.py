"""Hooks and the webhook: real shell commands and a real HTTP server on localhost."""

from __future__ import annotations

import json
import os
import sys
import queue
import shlex
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import PY, gone

from autoresearch.decide import Decision
from autoresearch.experiment import Experiment, Measurement
from autoresearch.ledger import format_record
from autoresearch.notify import Ending, Notifier
from autoresearch.results import Summary, summarize

SHA = "abc1234" + "0" * 33
# What a hook sets: AUTORESEARCH_* variables the test process did not have itself (CI sets
# some of its own, which every hook inherits).
INHERITED = sorted(k for k in os.environ if k.startswith("AUTORESEARCH_"))
DUMP_ENV = f"""\
import json, os, sys
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({{k: v for k, v in os.environ.items()
                          if k.startswith("AUTORESEARCH_") and k not in {INHERITED!r}}})
              + "\\n")
"""


def experiment(number: int, status: str, value: float | None, *, description: str = "raise lr",
               reason: str = "improved", prev: float | None = 1.0) -> Experiment:
    return Experiment(number=number, tag="t", metric="val_bpb", direction="lower_is_better",
                      description=description, decision=Decision(status, reason), commit=SHA,
                      measurement=Measurement(commit=SHA, value=value), prev=prev,
                      error="boom" if status == "crash" else None)


class Recorder:
    """The ``log`` callback: keeps every record, and which thread logged it."""

    def __init__(self):
        self.records: list[tuple[str, str, dict]] = []
        self.threads: set[str] = set()

    def __call__(self, action: str, status: str, details: dict) -> None:
        self.records.append((action, status, details))
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def logged() -> Recorder:
    return Recorder()


@pytest.fixture
def notifier(tmp_path: Path, logged: Recorder):
    """``notifier(hooks={event: command}, url=None, **options)``; closed after the test."""
    made: list[Notifier] = []
    (tmp_path / "dump_env.py").write_text(DUMP_ENV)

    def make(hooks=None, url=None, **options) -> Notifier:
        made.append(Notifier(tmp_path, tag="t", hooks=hooks or {}, url=url, log=logged,
                             log_dir=tmp_path / "hooks", **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def dump_env(name: str = "env.jsonl") -> str:
    return f"{shlex.quote(PY)} dump_env.py {name}"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_on_keep_gets_the_experiment_in_its_environment(tmp_path, notifier, logged):
    hooks = notifier(hooks={"keep": dump_env()})
    hooks.fire("keep", experiment(2, "keep", 0.9, description="it's <b>\"quoted\"</b> $HOME"))
    hooks.close()
    assert lines(tmp_path / "env.jsonl") == [{
        "AUTORESEARCH_TAG": "t", "AUTORESEARCH_EVENT": "keep", "AUTORESEARCH_COMMIT": "abc1234",
        "AUTORESEARCH_VALUE": "0.9", "AUTORESEARCH_DELTA": "-0.1",
        "AUTORESEARCH_STATUS": "keep", "AUTORESEARCH_REASON": "improved",
        "AUTORESEARCH_DESCRIPTION": "it's <b>\"quoted\"</b> $HOME"}]
    assert logged.records == []


def night() -> Summary:
    """The summary of a baseline, a keep and a discard."""
    return summarize([json.loads(format_record(*e.to_record())) for e in (
        experiment(1, "keep", 1.0, description="baseline", reason="baseline", prev=None),
        experiment(2, "keep", 0.9), experiment(3, "discard", 0.95, reason="not improved"))])


def test_on_stop_gets_the_best_and_why_the_loop_ended(tmp_path, notifier):
    hooks = notifier(hooks={"stop": dump_env()})
    hooks.fire("stop", Ending(night(), "10 iterations done"))
    hooks.close()
    [env] = lines(tmp_path / "env.jsonl")
    assert env == {
        "AUTORESEARCH_TAG": "t", "AUTORESEARCH_EVENT": "stop", "AUTORESEARCH_COMMIT": "abc1234",
        "AUTORESEARCH_VALUE": "0.9", "AUTORESEARCH_DELTA": "-0.1",
        "AUTORESEARCH_STATUS": "stop", "AUTORESEARCH_REASON": "10 iterations done",
        "AUTORESEARCH_DESCRIPTION": "3 experiments, 2 kept; best: raise lr"}


def test_a_plateau_is_a_run_of_experiments_without_a_keep(tmp_path, notifier):
    hooks = notifier(hooks={"plateau": dump_env()}, plateau_after=2)
    for number, status in enumerate(["discard", "crash", "discard", "keep", "discard",
                                     "discard"], start=1):
        hooks.fire(status, experiment(number, status, None if status == "crash" else 1.1,
                                      description=f"idea {number}"))
    hooks.close()
    assert [(env["AUTORESEARCH_DESCRIPTION"], env["AUTORESEARCH_REASON"])
            for env in lines(tmp_path / "env.jsonl")] == [
        ("idea 2", "2 experiments in a row without a keep"),
        ("idea 6", "2 experiments in a row without a keep")]


def test_a_failing_hook_is_logged_and_the_next_one_still_runs(tmp_path, notifier, logged):
    hooks = notifier(hooks={"crash": "echo starting; echo boom >&2; exit 3",
                            "keep": dump_env()})
    hooks.fire("crash", experiment(2, "crash", None, reason="run failed"))
    hooks.fire("keep", experiment(3, "keep", 0.9))
    hooks.close()
    assert logged.records == [("hook_failed", "fail", {
        "hook": "on_crash", "event": "crash", "error": "exit code 3: boom", "tag": "t"})]
    assert logged.threads == {"hooks"}  # reported from the hooks' thread, not the caller's
    assert len(lines(tmp_path / "env.jsonl")) == 1


def test_a_hook_past_the_limit_is_stopped_with_its_children(tmp_path, notifier, logged):
    hooks = notifier(hooks={"keep": "sleep 120 & echo $! > child.pid; wait"}, limit_s=1)
    hooks.fire("keep", experiment(2, "keep", 0.9))
    hooks.close()
    assert logged.records == [("hook_failed", "fail", {
        "hook": "on_keep", "event": "keep", "error": "ran past 1s and was stopped",
        "tag": "t"})]
    child = int((tmp_path / "child.pid").read_text())
    assert gone(child)


@pytest.mark.timeout(60)
def test_fire_returns_while_the_hook_still_runs(tmp_path, notifier):
    # The hook waits for a file the test writes only after fire() returned: a fire() that
    # waited for its hook would never return (and the timeout fails the test).
    hooks = notifier(hooks={"keep": "while [ ! -f go ]; do sleep 0.05; done; echo ran > out"})
    hooks.fire("keep", experiment(2, "keep", 0.9))
    assert not (tmp_path / "out").exists()
    (tmp_path / "go").write_text("")
    hooks.close()
    assert (tmp_path / "out").read_text() == "ran\n"


def test_an_unknown_event_is_a_programming_error(notifier):
    with pytest.raises(ValueError, match="unknown event 'kept'"):
        notifier().fire("kept", experiment(2, "keep", 0.9))


# -- the webhook ---------------------------------------------------------------------------

class Webhook(ThreadingHTTPServer):
    """Records each POST (content type, JSON body); answers ``status`` once ``release`` is set."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), WebhookHandler)
        self.received: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.status = 200
        self.release = threading.Event()
        self.release.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def posts(self) -> list[tuple[str, dict]]:
        found = []
        while not self.received.empty():
            found.append(self.received.get())
        return found


class WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.put((self.headers["Content-Type"], json.loads(body)))
        self.server.release.wait()
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def webhook():
    server = Webhook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def test_the_webhook_hears_of_each_keep_and_of_the_end(notifier, webhook, logged):
    hooks = notifier(url=webhook.url)
    hooks.fire("keep", experiment(2, "keep", 0.9))
    hooks.fire("discard", experiment(3, "discard", 0.95))
    hooks.fire("crash", experiment(4, "crash", None))
    hooks.fire("stop", Ending(night(), "interrupted"))
    hooks.close()
    assert webhook.posts() == [
        ("application/json", {"text": "autoresearch t: kept #2 abc1234 val_bpb 0.9 (-0.1): "
                                      "raise lr"}),
        ("application/json", {"text": "autoresearch t stopped (interrupted): 3 experiments, "
                                      "2 kept; val_bpb 1 → 0.9 (-10.00%, better); best "
                                      "abc1234 raise lr"}),
    ]
    assert logged.records == []


def test_a_webhook_error_is_logged(notifier, webhook, logged):
    webhook.status = 500
    hooks = notifier(url=webhook.url)
    hooks.fire("keep", experiment(2, "keep", 0.9))
    hooks.close()
    assert logged.records == [("hook_failed", "fail", {
        "hook": "notify", "event": "keep", "error": f"{webhook.url} answered HTTP 500",
        "tag": "t"})]


def test_a_webhook_that_does_not_answer_is_given_up(notifier, webhook, logged):
    webhook.release.clear()
    hooks = notifier(url=webhook.url, limit_s=1)
    hooks.fire("keep", experiment(2, "keep", 0.9))
    hooks.close()
    assert logged.records == [("hook_failed", "fail", {
        "hook": "notify", "event": "keep", "error": f"{webhook.url} did not answer within 1s",
        "tag": "t"})]


def test_a_webhook_nobody_listens_on_is_logged(notifier, logged):
    hooks = notifier(url="http://127.0.0.1:9/nobody")  # the discard port: refused
    hooks.fire("keep", experiment(2, "keep", 0.9))
    hooks.close()
    [(action, _status, details)] = logged.records
    assert (action, details["hook"]) == ("hook_failed", "notify")
    assert details["error"].startswith("http://127.0.0.1:9/nobody: ")


# -- the hooks in a real loop ------------------------------------------------------------------

def test_a_loop_runs_its_hooks_and_posts_to_its_webhook(tmp_path: Path):
    import http.server
    import threading

    from helpers import cli, make_project, records, train_py

    posted: list[dict] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dump = tmp_path / "dump.py"
    dump.write_text(DUMP_ENV)
    seen = tmp_path / "hooks.jsonl"
    plan = [{"write": {"train.py": train_py(0.8)}, "say": "lower"},
            {"write": {"train.py": "raise SystemExit(3)\n"}, "say": "break it"}]
    project = make_project(
        tmp_path, train_py(1.0), plan, on_keep=f"{sys.executable} {dump} {seen}",
        on_crash="exit 9", on_stop=f"{sys.executable} {dump} {seen}",
        notify=f"http://127.0.0.1:{server.server_address[1]}/hook")
    try:
        done = cli(project, "loop", "-n", "2", "--tag", "h")
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    fired = [json.loads(line) for line in seen.read_text().splitlines()]
    assert [f["AUTORESEARCH_EVENT"] for f in fired] == ["keep", "stop"]
    assert fired[0]["AUTORESEARCH_VALUE"] == "0.8" and fired[0]["AUTORESEARCH_TAG"] == "h"
    failed = [r["details"] for r in records(project) if r["action"] == "hook_failed"]
    assert [(d["hook"], d["event"]) for d in failed] == [("on_crash", "crash")]
    assert len(posted) == 2 and all(set(p) == {"text"} for p in posted)
    assert records(project)[-1]["action"] == "session_end"
