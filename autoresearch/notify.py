"""Hooks and a webhook: what a running loop tells the world outside.

- ``on_keep``, ``on_crash``, ``on_plateau``, ``on_stop``: shell commands run in the project
  directory, with ``AUTORESEARCH_TAG``, ``_EVENT``, ``_COMMIT`` (7 characters), ``_VALUE``,
  ``_DELTA``, ``_STATUS``, ``_REASON`` and ``_DESCRIPTION`` in their environment. A plateau
  is ``plateau_after`` experiments in a row without a keep (once per plateau); on_stop
  gets the best commit and value, the change from the baseline and why the loop ended.
- ``notify: URL``: a POST of ``{"text": "..."}`` (what Slack and Discord incoming webhooks
  accept) on each keep and at the end.

The loop creates one :class:`Notifier` and calls ``fire(experiment.status, experiment)``
after logging each experiment and ``fire("stop", Ending(summary, reason))`` at the end, then
``close()``. ``fire`` only puts the work on a queue: the hooks run one after another on a
thread of their own. One that fails or runs past ``limit_s`` (its process tree is then
killed) becomes a ``hook_failed`` record handed to the ``log`` callback, on that thread;
nothing a hook does stops the loop or makes it wait, except ``close()``, which lets the
queued hooks finish (each bounded by ``limit_s``) so that on_stop runs before the loop exits.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoresearch import output, runner
from autoresearch.errors import UserError
from autoresearch.experiment import Experiment
from autoresearch.results import Summary, format_delta, format_value, progress_text
from autoresearch.search.plateau import PIVOT_AFTER

EVENTS = ("keep", "discard", "crash", "plateau", "stop")
HOOK_KEYS = {"keep": "on_keep", "crash": "on_crash", "plateau": "on_plateau", "stop": "on_stop"}
NOTIFIED = ("keep", "stop")  # the events the webhook hears of
LIMIT_S = 30.0  # a hook or a webhook call taking longer is stopped and reported
WEBHOOK = "notify"  # the name a webhook failure is reported under


@dataclass(frozen=True)
class Ending:
    """How the loop ended: its tag's summary and why it stopped (for on_stop and notify)."""

    summary: Summary
    reason: str


@dataclass(frozen=True)
class _Job:
    event: str
    hook: str  # a HOOK_KEYS value, or WEBHOOK
    fields: Mapping[str, str]  # the environment (a hook) or {"text": ...} (the webhook)


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _fields(tag: str, event: str, subject: Experiment | Ending, plateau_after: int) -> dict:
    """The AUTORESEARCH_* variables of one event."""
    if isinstance(subject, Ending):
        s = subject.summary
        change = None if s.best is None or s.baseline is None else round(s.best - s.baseline, 10)
        fields = {"COMMIT": (s.best_commit or "")[:7], "VALUE": _number(s.best),
                  "DELTA": _number(change), "STATUS": "stop", "REASON": subject.reason,
                  "DESCRIPTION": f"{s.experiments} experiments, {s.kept} kept; best: "
                                 f"{s.best_description or ''}"}
    else:
        reason = (f"{plateau_after} experiments in a row without a keep" if event == "plateau"
                  else subject.reason)
        fields = {"COMMIT": subject.short_commit if subject.commit else "",
                  "VALUE": _number(subject.value), "DELTA": _number(subject.delta),
                  "STATUS": subject.status, "REASON": reason,
                  "DESCRIPTION": subject.description}
    every = {"TAG": tag, "EVENT": event, **fields}
    # An environment value cannot hold NUL; an agent's description might.
    return {f"AUTORESEARCH_{key}": str(value).replace("\0", "") for key, value in every.items()}


def message(tag: str, subject: Experiment | Ending) -> str:
    """The webhook's text for a keep or the end."""
    if isinstance(subject, Ending):
        s = subject.summary
        best = f"; best {s.best_commit[:7]} {s.best_description}" if s.best_commit else ""
        return (f"autoresearch {tag} stopped ({subject.reason}): {s.experiments} experiments, "
                f"{s.kept} kept; {s.metric or 'metric'} {progress_text(s)}{best}")
    e = subject
    delta = format_delta(e.delta)
    return (f"autoresearch {tag}: kept #{e.number} {e.short_commit} {e.metric} "
            f"{format_value(e.value)}{f' ({delta})' if delta else ''}: {e.description}")


class Notifier:
    """Runs the configured hooks and the webhook off the loop's thread."""

    def __init__(self, project: Path, *, tag: str, hooks: Mapping[str, str | None],
                 url: str | None, log: Callable[[str, str, dict], Any], log_dir: Path,
                 limit_s: float = LIMIT_S, plateau_after: int = PIVOT_AFTER):
        """``hooks`` maps events (keep, crash, plateau, stop) to commands; ``log`` receives
        each ``("hook_failed", "fail", details)``; a hook's output goes to
        ``log_dir/<on_event>.log``."""
        self.project = project
        self.tag = tag
        self.hooks = {event: command for event, command in hooks.items() if command}
        self.url = url
        self.log = log
        self.log_dir = log_dir
        self.limit_s = limit_s
        self.plateau_after = plateau_after
        self._without_keep = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config, *, tag: str, log: Callable[[str, str, dict], Any],
                    log_dir: Path, **options: Any) -> Notifier:
        """The notifier of a resolved config (``options``: limit_s, plateau_after)."""
        return cls(config.project_dir, tag=tag, log=log, log_dir=log_dir,
                   hooks={event: config.values.get(key) for event, key in HOOK_KEYS.items()},
                   url=config.values.get("notify"), **options)

    def fire(self, event: str, subject: Experiment | Ending) -> None:
        """Queue what ``event`` runs: an experiment's status (keep, discard, crash), which
        may also make a plateau, or "stop" with an :class:`Ending`. Returns at once."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
        self._queue_event(event, subject)
        if event in ("keep", "discard", "crash"):
            self._without_keep = 0 if event == "keep" else self._without_keep + 1
            if self._without_keep == self.plateau_after:
                self._queue_event("plateau", subject)

    def _queue_event(self, event: str, subject: Experiment | Ending) -> None:
        if event in self.hooks:
            self._put(_Job(event, HOOK_KEYS[event],
                           _fields(self.tag, event, subject, self.plateau_after)))
        if self.url and event in NOTIFIED:
            self._put(_Job(event, WEBHOOK, {"text": message(self.tag, subject)}))

    def _put(self, job: _Job) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="hooks", daemon=True)
            self._thread.start()
        self._queue.put(job)

    def close(self) -> None:
        """Let the queued hooks finish (each within ``limit_s``), then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    # -- on the hooks' thread -------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            error = self._post(job) if job.hook == WEBHOOK else self._run(job)
            if error:
                self._report(job, error)

    def _run(self, job: _Job) -> str | None:
        """Run one hook; what went wrong, or None."""
        log = self.log_dir / f"{job.hook}.log"
        try:
            result = runner.run(self.hooks[job.event], cwd=self.project, timeout=self.limit_s,
                                stdout_path=log, env=job.fields)
        except (UserError, OSError) as exc:
            return f"could not run it: {exc}"
        if result.timed_out:
            return f"ran past {self.limit_s:g}s and was stopped"
        if result.exit_code != 0:
            last = runner.tail(log, 400).strip().splitlines()
            return f"exit code {result.exit_code}" + (f": {last[-1]}" if last else "")
        return None

    def _post(self, job: _Job) -> str | None:
        """POST the webhook's JSON; what went wrong, or None."""
        request = urllib.request.Request(
            self.url, data=json.dumps(dict(job.fields)).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "autoresearch"})
        try:
            with urllib.request.urlopen(request, timeout=self.limit_s) as response:
                response.read(4096)
        except urllib.error.HTTPError as exc:
            return f"{self.url} answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                return f"{self.url} did not answer within {self.limit_s:g}s"
            return f"{self.url}: {reason}"
        return None

    def _report(self, job: _Job, error: str) -> None:
        details = {"hook": job.hook, "event": job.event, "error": error, "tag": self.tag}
        try:
            self.log("hook_failed", "fail", details)
        except Exception as exc:  # noqa: BLE001  a failing log must not end the hooks' thread
            output.warn(f"{job.hook} failed ({error}) and could not be logged: {exc}")
