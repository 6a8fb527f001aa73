"""Tests for autoresearch.runner: real processes, real files."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from helpers import gone, wait_until

from autoresearch import runner
from autoresearch.errors import EnvironmentProblem, Interrupted

PY = sys.executable

# Starts a grandchild in a session of its own that ignores SIGTERM, records its pid once
# it is ready, then sleeps: only a tree-wide SIGKILL gets rid of it.
STUBBORN_GRANDCHILD = """
import os, subprocess, sys, time
code = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "open('ready', 'w').close(); time.sleep(120)"
)
child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
while not os.path.exists("ready"):
    time.sleep(0.01)
with open("grandchild.pid", "w") as f:
    f.write(str(child.pid))
time.sleep(120)
"""


def run(tmp_path: Path, command, **kwargs) -> runner.RunResult:
    """runner.run in tmp_path with a log at tmp_path/out.log and a 20 s safety timeout."""
    kwargs.setdefault("timeout", 20)
    kwargs.setdefault("grace_s", 0.5)
    return runner.run(command, cwd=tmp_path, stdout_path=tmp_path / "out.log", **kwargs)


def log(tmp_path: Path) -> bytes:
    return (tmp_path / "out.log").read_bytes()


def wait_for_pid(path: Path) -> int:
    """The pid a command wrote to ``path``, waiting up to 20 s for it to appear."""
    return int(wait_until(lambda: path.exists() and path.read_text().strip(), None,
                          f"{path} written", timeout=20))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("exit 0", 0),
        ("exit 3", 3),
        ([PY, "-c", "import sys; sys.exit(5)"], 5),
        ("kill -TERM $$", -signal.SIGTERM),
    ],
)
def test_exit_code_is_reported(tmp_path, command, expected):
    result = run(tmp_path, command)
    assert result.exit_code == expected
    assert not result.timed_out
    assert not result.log_truncated


def test_argv_is_passed_without_a_shell(tmp_path):
    run(tmp_path, [PY, "-c", "import sys; print(sys.argv[1:])", "a b", "$HOME"])
    assert log(tmp_path) == b"['a b', '$HOME']\n"


def test_stderr_is_merged_into_stdout_by_default(tmp_path):
    run(tmp_path, "echo out; echo err >&2")
    assert log(tmp_path) == b"out\nerr\n"


def test_stderr_goes_to_its_own_file(tmp_path):
    err = tmp_path / "logs" / "err.log"
    run(tmp_path, "echo out; echo err >&2", stderr_path=err)
    assert log(tmp_path) == b"out\n"
    assert err.read_bytes() == b"err\n"


def test_log_parent_directories_are_created(tmp_path):
    out = tmp_path / "a" / "b" / "run.log"
    runner.run("echo hi", cwd=tmp_path, timeout=20, stdout_path=out)
    assert out.read_bytes() == b"hi\n"


def test_input_text_is_written_to_stdin(tmp_path):
    text = "line one\nünïcode\n" * 10_000  # larger than a pipe buffer
    run(tmp_path, "cat", input_text=text)
    assert log(tmp_path) == text.encode()


def test_stdin_is_empty_without_input_text(tmp_path):
    result = run(tmp_path, "cat")
    assert result.exit_code == 0
    assert log(tmp_path) == b""


def test_env_is_layered_over_the_current_environment(tmp_path):
    env = {"AUTORESEARCH_TEST_VAR": "v"}
    run(tmp_path, 'echo "$AUTORESEARCH_TEST_VAR"; command -v sh', env=env)
    first, second = log(tmp_path).decode().splitlines()
    assert first == "v"
    assert second.endswith("sh")  # PATH still comes from the current environment


def test_runs_in_cwd(tmp_path):
    run(tmp_path, "pwd")
    assert Path(log(tmp_path).decode().strip()).resolve() == tmp_path.resolve()


def test_missing_executable_is_an_environment_problem(tmp_path):
    with pytest.raises(EnvironmentProblem, match="cannot start '/nonexistent/tool --x'"):
        run(tmp_path, ["/nonexistent/tool", "--x"])


def test_timeout_kills_a_grandchild_that_ignores_sigterm_in_its_own_session(tmp_path):
    script = tmp_path / "spawn.py"
    script.write_text(STUBBORN_GRANDCHILD)
    started = time.monotonic()
    result = run(tmp_path, [PY, str(script)], timeout=3)
    assert time.monotonic() - started < 20  # generous: 3 s timeout + 0.5 s grace
    assert result.timed_out
    assert result.exit_code is None
    assert result.duration_s >= 3
    assert (tmp_path / "ready").exists(), "the grandchild never got to ignore SIGTERM"
    assert gone(int((tmp_path / "grandchild.pid").read_text()))


def test_child_that_closes_its_output_is_still_timed_out(tmp_path):
    started = time.monotonic()
    result = run(tmp_path, "echo before; exec >&- 2>&-; echo $$ > pid; exec sleep 60", timeout=1)
    assert time.monotonic() - started < 15
    assert result.timed_out
    assert log(tmp_path) == b"before\n"
    assert gone(int((tmp_path / "pid").read_text()))


def test_background_process_left_by_a_finished_command_is_killed(tmp_path):
    result = run(tmp_path, "sleep 60 & echo $! > bg.pid")
    assert result.exit_code == 0
    assert gone(int((tmp_path / "bg.pid").read_text()))


def test_descendant_that_escaped_to_its_own_session_is_killed_after_exit(tmp_path):
    code = (
        "import subprocess, time;"
        "p = subprocess.Popen(['sleep', '60'], start_new_session=True);"
        "open('escaped.pid', 'w').write(str(p.pid));"
        "time.sleep(1)"  # alive long enough for the tree to be sampled
    )
    result = run(tmp_path, [PY, "-c", code])
    assert result.exit_code == 0
    assert gone(int((tmp_path / "escaped.pid").read_text()))


def test_huge_output_is_bounded_to_head_and_tail(tmp_path):
    size = 200_000_000
    code = (
        "import sys; out = sys.stdout.buffer; out.write(b'HEAD'); chunk = b'.' * 1_000_000;"
        f"[out.write(chunk) for _ in range({size} // 1_000_000 - 1)];"
        "out.write(b'.' * (1_000_000 - 8)); out.write(b'TAIL')"
    )
    result = run(tmp_path, [PY, "-c", code], max_log_bytes=1000)
    marker = f"\n[... autoresearch: {size - 1000} bytes omitted ...]\n".encode()
    data = log(tmp_path)
    assert result.log_truncated
    assert result.exit_code == 0
    assert len(data) == 1000 + len(marker)
    assert data == b"HEAD" + b"." * 496 + marker + b"." * 496 + b"TAIL"


def test_output_within_the_bound_is_kept_whole(tmp_path):
    result = run(tmp_path, "printf 'x%.0s' $(seq 1000)", max_log_bytes=1000)
    assert not result.log_truncated
    assert log(tmp_path) == b"x" * 1000


def test_non_utf8_output_is_kept_byte_for_byte(tmp_path):
    raw = b"\xff\xfe\x80 caf\xe9 \x00 end\n"
    run(tmp_path, [PY, "-c", f"import sys; sys.stdout.buffer.write({raw!r})"])
    assert log(tmp_path) == raw
    assert runner.tail(tmp_path / "out.log").endswith(" end\n")


def test_peak_rss_covers_a_child_that_allocates(tmp_path):
    code = "import time; block = b'x' * (100 * 1024 * 1024); time.sleep(1)"
    result = run(tmp_path, ["sh", "-c", f'"{PY}" -c "{code}"; true'])
    assert result.peak_rss_mb > 50


def test_peak_rss_is_small_for_a_small_command(tmp_path):
    assert run(tmp_path, "sleep 0.5").peak_rss_mb < 50


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


@pytest.mark.parametrize(
    ("signum", "handler", "expected"),
    [
        (signal.SIGINT, signal.default_int_handler, KeyboardInterrupt),
        (signal.SIGTERM, _raise_interrupted, Interrupted),
    ],
)
def test_interrupt_while_waiting_kills_the_command_and_is_reraised(
    tmp_path, signum, handler, expected
):
    previous = signal.signal(signum, handler)
    pid_file = tmp_path / "pid"
    threading.Thread(
        target=lambda: (wait_for_pid(pid_file), os.kill(os.getpid(), signum)), daemon=True
    ).start()
    try:
        with pytest.raises(expected):
            run(tmp_path, "sleep 60 & echo $! > pid; wait", timeout=30)
    finally:
        signal.signal(signum, previous)
    assert gone(int(pid_file.read_text()))


def test_on_tick_reports_elapsed_seconds(tmp_path):
    ticks: list[float] = []
    run(tmp_path, "sleep 1.5", on_tick=ticks.append)
    assert ticks
    assert all(tick >= 1.0 for tick in ticks)
    assert ticks == sorted(ticks)


def test_kill_tree_kills_a_process_and_its_children(tmp_path):
    proc = psutil.Popen(
        ["sh", "-c", "sleep 60 & echo $! > child.pid; wait"], cwd=tmp_path, start_new_session=True
    )
    child = wait_for_pid(tmp_path / "child.pid")
    runner.kill_tree(proc.pid, grace_s=0.5)
    proc.wait(timeout=10)
    assert gone(child)


def test_tail_returns_the_last_bytes(tmp_path):
    path = tmp_path / "f.log"
    path.write_bytes(b"a" * 10 + b"end")
    assert runner.tail(path, max_bytes=5) == "aaend"
    assert runner.tail(path) == "a" * 10 + "end"


def test_tail_of_a_missing_file_is_empty(tmp_path):
    assert runner.tail(tmp_path / "missing.log") == ""
