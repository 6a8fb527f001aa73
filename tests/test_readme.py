"""README.md tells the same story as the code: config keys, command options, first commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from autoresearch import tasks
from autoresearch.config import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## `` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def config_table() -> list[list[str]]:
    """The rows of the Configuration section's key table, as lists of cells."""
    rows = []
    for line in section("Configuration").splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def first_code_block() -> tuple[str, list[str], int]:
    """(language, non-empty lines, position) of the README's first fenced block."""
    match = re.search(r"^```(\w*)\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no fenced code block"
    lines = [line for line in match.group(2).splitlines() if line.strip()]
    return match.group(1), lines, match.start()


def test_config_table_lists_every_key_in_schema_order():
    rows = config_table()
    names = [re.match(r"`(\w+)`", row[0]).group(1) for row in rows]
    assert names == [key.name for key in SCHEMA]


@pytest.mark.parametrize("key", SCHEMA, ids=lambda key: key.name)
def test_config_row_matches_the_schema(key):
    row = next(r for r in config_table() if r[0].startswith(f"`{key.name}`"))
    assert row[0] == f"`{key.name}`" + (" (seed)" if key.seed else "")
    assert row[1] == f"`{key.flag}`"
    assert f"Accepts: {key.accepted}." in row[-1]


def task_options() -> list[tuple[str, str]]:
    options = []
    for name in tasks.TASK_NAMES:
        for param in getattr(tasks, f"task_{name}")()["params"]:
            options.append((name, f"--{param['long']}"))
    return options


@pytest.mark.parametrize("task, option", sorted(set(task_options())))
def test_every_command_option_is_documented(task, option):
    assert re.search(rf"{re.escape(option)}(?![\w-])", README), \
        f"'autoresearch {task} {option}' is not in README.md"


def test_every_command_is_documented():
    for name in tasks.TASK_NAMES:
        assert f"autoresearch {name}" in README, f"'autoresearch {name}' is not in README.md"


def test_first_two_commands_open_the_readme():
    language, lines, position = first_code_block()
    assert language == "bash"
    assert position < README.index("\n## "), "the first commands must come before any section"
    assert len(lines) == 2
    install_demo, install_test = lines
    assert "autoresearch demo" in install_demo
    assert "pytest" in install_test


def test_ci_runs_exactly_the_readmes_second_command():
    second = first_code_block()[1][1].strip()
    commands = [line.strip() for line in CI_RUN.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert second in commands
    assert commands[-1] == second, "the test command is what CI ends with"


def test_extras_named_in_the_first_commands_exist():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for line in first_code_block()[1]:
        for group in re.findall(r"\.\[([\w,]+)\]", line):
            for extra in group.split(","):
                assert extra in extras, f"README installs extra '{extra}' that pyproject lacks"
