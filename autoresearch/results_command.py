"""``autoresearch results`` and ``autoresearch finalize``: wiring from options to results.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch import ledger, output
from autoresearch.errors import UserError
from autoresearch.git import open_repo
from autoresearch.results import report
from autoresearch.setup import tag_of_branch


def current_tag(project: Path) -> str | None:
    """The tag of the checked-out autoresearch/<tag> branch, if any (no git needed otherwise)."""
    try:
        with open_repo(project) as repo:
            return tag_of_branch(repo.current_branch())
    except UserError:
        return None


def results_command(project: Path, options: dict[str, Any]) -> None:
    plot = options.get("plot")
    output.result(report(
        project, tag=options.get("tag") or current_tag(project),
        fmt=options.get("format") or "table", last=options.get("last") or None,
        status=options.get("status"), query_expr=options.get("query"),
        plot_path=Path(plot) if plot else None, colour=output.use_colour()))


def finalize_command(project: Path, options: dict[str, Any]) -> None:
    from autoresearch.finalize import finalize

    tag = options.get("tag") or current_tag(project)
    if not tag:
        raise UserError("finalize needs a tag: run it on an autoresearch/<tag> branch or pass "
                        "--tag TAG")
    records, _skipped = ledger.read_events(project / ledger.EVENTS_FILE)
    output.result(finalize(project, tag, records))


def summary_and_plot(project: Path, tag: str, plot_path: Path) -> str:
    """The demo's closing output: the summary and table, and the plot when matplotlib exists."""
    try:
        return report(project, tag=tag, fmt="table", last=None, status=None, query_expr=None,
                      plot_path=plot_path, colour=output.use_colour())
    except UserError as error:  # the plot extra is missing: the summary still counts
        output.warn(str(error))
        return report(project, tag=tag, fmt="table", last=None, status=None, query_expr=None,
                      plot_path=None, colour=output.use_colour())
