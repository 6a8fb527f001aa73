"""``autoresearch dashboard``: the page, an event stream of what changes, and the details of
one experiment, served over HTTP by the standard library.

Routes (every one a GET; the page's own script is the only client)::

    /            the page of ?tag= (default: the most recent tag)
    /events      server-sent events from ?since= (or Last-Event-ID) on: ``experiments``
                 (the new rows and the summary) and ``live`` (what the loop does now);
                 with ?follow=1 a tag set up meanwhile replaces ?tag= (rows from its start)
    /experiment  ?commit=FULL_SHA: its diff against its parent and its run-log tail, as JSON

Bound to localhost, a request must name a local host (a web page elsewhere cannot reach it
through DNS rebinding). Bound to any other address, a random token is made and every
request without ``?token=`` is refused (403); the printed URL carries it.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from autoresearch import output
import autoresearch.dashboard.page as page
from autoresearch.dashboard.data import ProjectView, live_status, open_view, stamped
from autoresearch.errors import ConfigError, EnvironmentProblem, UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
POLL_S = 0.5  # how often an event stream looks for news (a stat and live.json)
KEEPALIVE_S = 15.0  # a comment line this often finds closed connections
_UNSENT = object()  # a stream's first live status is sent whatever it is


class DashboardServer(ThreadingHTTPServer):
    """The server of one project's dashboard, serving from a thread of its own."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], view: ProjectView, tag: str | None,
                 token: str | None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.view = view
        self.tag = tag  # None: show the most recent tag, whichever it is at the time
        self.token = token
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, name="dashboard",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, end the event streams, release the port and git."""
        self.stopping.set()
        if self._thread.is_alive():
            self.shutdown()
        self.server_close()
        self.view.close()


def serve(project: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          tag: str | None = None, token: str | None = None) -> DashboardServer:
    """Serve the dashboard of ``project`` from a background thread; ``close()`` stops it.

    Port 0 takes a free one (see ``url``). Beyond localhost a token is required: ``token``,
    or a random one.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: not a port; use 1 to 65535 (0: any free one)")
    view = open_view(project)
    try:
        view.choose_tag(tag)  # an unknown tag is an error now, not on the first request
        if host not in LOCAL_HOSTS and not token:
            token = secrets.token_urlsafe(18)
        server = DashboardServer((host, port), view, tag, token)
    except OSError as exc:
        view.close()
        raise EnvironmentProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                 "choose another --port or --host") from None
    except UserError:
        view.close()
        raise
    return server.start()


def run(project: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
        tag: str | None = None, token: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C), printing the URL to open."""
    server = serve(project, host=host, port=port, tag=tag, token=token)
    try:
        output.result(f"dashboard of {project.resolve()}: {server.url}")
        output.info("Ctrl-C stops it")
        server.stopping.wait()
    finally:
        server.close()


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass  # one line per request would drown the terminal

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if not self._allowed(query):
            return self._send(HTTPStatus.FORBIDDEN, "text/plain",
                              b"forbidden: open the URL autoresearch dashboard printed\n")
        route = {"/": self._page, "/events": self._events, "/experiment": self._experiment}
        if url.path not in route:
            return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
        route[url.path](query)

    def _allowed(self, query: dict[str, str]) -> bool:
        if self.server.token:
            return hmac.compare_digest(query.get("token", ""), self.server.token)
        host = urlsplit("//" + self.headers.get("Host", "")).hostname
        return host in LOCAL_HOSTS

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")

    def _tag(self, query: dict[str, str]) -> tuple[str | None, bool]:
        """(the tag a request shows, whether it follows the most recent one): a page without
        ?tag= of a server started without --tag follows, so a tag set up later replaces the
        one shown. A ConfigError names an unknown tag."""
        view = self.server.view
        if query.get("follow") == "1" or ("tag" not in query and self.server.tag is None):
            return view.choose_tag(query.get("tag") or None), True
        return view.choose_tag(query.get("tag") or self.server.tag), False

    # -- routes --------------------------------------------------------------------------------
    def _page(self, query: dict[str, str]) -> None:
        view = self.server.view
        view.refresh()
        try:
            tag, follow = self._tag(query)
        except ConfigError as exc:
            return self._send(HTTPStatus.NOT_FOUND, "text/plain", f"{exc}\n".encode())
        body = page.render({**page.page_data(view, tag, live=True), "follow": follow}).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", page.policy(live=True))
        self._common_headers()
        self.end_headers()
        self.wfile.write(body)

    def _experiment(self, query: dict[str, str]) -> None:
        view = self.server.view
        sha = query.get("commit", "")
        view.refresh()
        try:
            found = view.details([sha]).get(sha)
        except UserError as exc:  # git failed: the page shows why
            return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", f"{exc}\n".encode())
        if found is None:
            return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no experiment has that commit\n")
        self._send(HTTPStatus.OK, "application/json", json.dumps(found).encode())

    def _events(self, query: dict[str, str]) -> None:
        try:
            tag, follow = self._tag(query)
        except ConfigError as exc:
            return self._send(HTTPStatus.NOT_FOUND, "text/plain", f"{exc}\n".encode())
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self._common_headers()
        self.end_headers()
        self.close_connection = True
        try:
            self._stream(tag, _since(query, self.headers.get("Last-Event-ID")), follow)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page was closed

    def _stream(self, tag: str | None, since: int, follow: bool) -> None:
        view, stopping = self.server.view, self.server.stopping
        last_live, quiet_s, moved = _UNSENT, 0.0, False
        while not stopping.is_set():
            view.refresh()
            if follow and (newest := view.choose_tag(None)) != tag:
                tag, since, moved = newest, 0, True  # a new tag was set up: show it instead
            count = view.count(tag)
            if count != since or moved:
                start = since if since <= count else 0  # fewer rows: the log was started anew
                head = json.dumps({"tag": tag, "start": start})[:-1]
                rows, summary = view.rows_json(tag, start), json.dumps(view.summary(tag))
                self._event("experiments", f'{head},"rows":{rows},"summary":{summary}}}',
                            event_id=count)
                since, quiet_s, moved = count, 0.0, False
            status = live_status(view.layout)
            if status != last_live:
                self._event("live", json.dumps(stamped(status)))
                last_live, quiet_s = status, 0.0
            if quiet_s >= KEEPALIVE_S:
                self.wfile.write(b": keepalive\n\n")
                self.wfile.flush()
                quiet_s = 0.0
            stopping.wait(POLL_S)
            quiet_s += POLL_S

    def _event(self, name: str, data: str, *, event_id: int | None = None) -> None:
        head = f"id: {event_id}\n" if event_id is not None else ""
        self.wfile.write(f"{head}event: {name}\ndata: {data}\n\n".encode())
        self.wfile.flush()


def _since(query: dict[str, str], last_event_id: str | None) -> int:
    """Where a stream starts: the rows the page has (a reconnecting browser says so in
    Last-Event-ID)."""
    numbers = [text for text in (query.get("since"), last_event_id) if text and text.isdigit()]
    return max(map(int, numbers), default=0)
