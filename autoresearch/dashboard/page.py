"""The dashboard page: one HTML document with its style, script and data inlined.

The same document serves the live server (it then follows ``events``) and the static
report (``results --html``: every diff and log tail it shows is inlined, and its content
security policy forbids any connection, so it loads nothing from anywhere). The script
and style are the files in ``assets/``, shipped in the wheel; no build step.

The data is JSON inside ``<script type="application/json">`` with ``<``, ``>`` and ``&``
escaped, so no text from the logs can close that element; the script puts every string
into the page as text.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from autoresearch.dashboard.data import ProjectView, live_status, open_view, stamped
from autoresearch.errors import ConfigError
from autoresearch.state import write_text_atomic

STATIC_DETAILS = 200  # the newest experiments whose diff and log a static report inlines


@functools.cache
def asset(name: str) -> str:
    return (resources.files("autoresearch.dashboard") / "assets" / name).read_text(
        encoding="utf-8")


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def policy(*, live: bool) -> str:
    """The content security policy: only this page's own script and style run, and only a
    live page may connect (to its own server)."""
    return "; ".join([
        "default-src 'none'", f"script-src {_digest(asset('dashboard.js'))}",
        f"style-src {_digest(asset('dashboard.css'))}",
        "connect-src 'self'" if live else "connect-src 'none'",
        "img-src data:", "base-uri 'none'", "form-action 'none'",
    ])


def _script_json(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_data(view: ProjectView, tag: str | None, *, live: bool) -> dict[str, Any]:
    """What the page renders at first: the tag's rows and summary, the tags and, for a live
    page, what the loop is doing now."""
    return {"mode": "live" if live else "static", "tag": tag, "tags": view.tags(),
            "rows": json.loads(view.rows_json(tag)), "summary": view.summary(tag),
            "live": stamped(live_status(view.layout)) if live else None,
            "written": datetime.now().astimezone().isoformat(timespec="seconds")}


def render(data: dict[str, Any]) -> str:
    """The page for ``data`` (see :func:`page_data`; ``details`` may inline diffs and logs)."""
    title = html.escape(f"autoresearch {data.get('tag') or ''}".strip())
    parts = {"csp": policy(live=data["mode"] == "live"), "title": title,
             "style": asset("dashboard.css"), "script": asset("dashboard.js")}
    page = asset("page.html")
    for name, text in parts.items():
        page = page.replace("{{" + name + "}}", text)
    return page.replace("{{data}}", _script_json(data))  # last: never searched for markers


def render_static(project: Path, out: Path, *, tag: str | None = None) -> Path:
    """Write the page of ``project`` (tag: the most recent) as one self-contained file."""
    view = open_view(project)
    try:
        tag = view.choose_tag(tag)
        data = page_data(view, tag, live=False)
        data["details"] = view.details(view.newest_shas(tag, STATIC_DETAILS))
    finally:
        view.close()
    try:
        write_text_atomic(out, render(data))
    except OSError as exc:
        raise ConfigError(f"--html {out}: cannot write it: {exc.strerror or exc}") from None
    return out
