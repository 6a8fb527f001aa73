"""A live page of one project's loop in the browser, and the same page as a static report.

- :mod:`data` reads the log (the ledger, else the JSONL mirror), git and live.json;
- :mod:`page` renders the one HTML document, live or self-contained;
- :mod:`server` serves it with an event stream of what changes.

It only reads: nothing is written into the project or the state directory.
"""

from autoresearch.dashboard.page import render_static
from autoresearch.dashboard.server import run, serve

__all__ = ["render_static", "run", "serve"]
