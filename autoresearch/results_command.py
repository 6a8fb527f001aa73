"""``autoresearch results`` and ``autoresearch finalize``: wiring from options to results.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresearch import mirrors
from autoresearch.errors import UserError
from autoresearch.git import open_repo
from autoresearch.output import Console, use_colour
from autoresearch.results import report
from autoresearch.results_index import source_of
from autoresearch.state import find
from autoresearch.tags import recent_tag


def current_tag(project: Path) -> str | None:
    """The tag set up last in the project, else the checked-out autoresearch/<tag>'s."""
    layout = find(project)
    if layout is None:
        return None
    try:
        with open_repo(project) as repo:
            return recent_tag(layout, repo)
    except UserError:
        return recent_tag(layout)


def results_command(project: Path, options: dict[str, Any], console: Console) -> None:
    plot = options.get("plot")
    if options.get("html"):
        from autoresearch.dashboard import render_static

        written = render_static(project, Path(options["html"]), tag=options.get("tag"))
        console.info(f"report written to {written}")
    console.result(report(
        project, tag=options.get("tag") or current_tag(project),
        fmt=options.get("format") or "table", last=options.get("last") or None,
        status=options.get("status"), query_expr=options.get("query"),
        plot_path=Path(plot) if plot else None, colour=use_colour()))


def finalize_command(project: Path, options: dict[str, Any], console: Console) -> None:
    from autoresearch.finalize import finalize

    tag = options.get("tag") or current_tag(project)
    if not tag:
        raise UserError("finalize needs a tag: set one up first, or pass --tag TAG")
    records = list(mirrors.iter_records(source_of(project).path))
    console.result(finalize(project, tag, records, verify=options.get("verify", False),
                            split=options.get("split", False), say=console.info))


def summary_and_plot(project: Path, tag: str, plot_path: Path, console: Console) -> str:
    """The demo's closing output: the summary and table, and the plot when matplotlib exists."""
    try:
        return report(project, tag=tag, fmt="table", last=None, status=None, query_expr=None,
                      plot_path=plot_path, colour=use_colour())
    except UserError as error:  # the plot extra is missing: the summary still counts
        console.warn(str(error))
        return report(project, tag=tag, fmt="table", last=None, status=None, query_expr=None,
                      plot_path=None, colour=use_colour())
