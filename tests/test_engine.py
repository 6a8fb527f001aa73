"""The engine: experiments as cached doit tasks keyed by commit, crashes, decisions and logs.

Everything runs as a user would: a real git repository in a temporary directory, the CLI
(`python -m autoresearch ...`) in a subprocess, and a scripted `command` agent whose every
call follows a plan (what to write into train.py, what to say).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import psutil
import pytest
from helpers import (
    EVENTS,
    PY,
    cli,
    experiments,
    git,
    git_run,
    gone,
    make_project,
    records,
    state_dir,
    train_py,
)

JQ = "/usr/bin/jq"
SEED_FIELDS = ("status", "metric", "value", "prev", "delta", "commit", "description",
               "memory_gb", "tag")


def commit_train(project: Path, text: str, message: str) -> str:
    (project / "train.py").write_text(text)
    git(project, "commit", "-q", "-am", message)
    return git(project, "rev-parse", "HEAD")


def tsv_lines(project: Path) -> list[str]:
    return (project / "results.tsv").read_text().splitlines()


def run_count(tmp: Path) -> int:
    runs = tmp / "runs.txt"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def counted(tmp: Path, mark: str = "x") -> str:
    """A run command that appends a line to runs.txt (outside the tree) per run."""
    return f"echo {mark} >> {shlex.quote(str(tmp / 'runs.txt'))} && {shlex.quote(PY)} train.py"


def tracked_changes(project: Path) -> str:
    return git(project, "status", "--porcelain", "--untracked-files=no")


# -- measure: cached by commit, files are the truth -----------------------------------------


def test_measure_twice_runs_the_command_once(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    head = git(project, "rev-parse", "HEAD")

    first = cli(project, "measure")
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(rf"{head[:7]}  val_bpb 1\.000000  \(ran in \d+\.\d\d s\)\n", first.stdout)
    assert run_count(tmp_path) == 1

    second = cli(project, "measure")
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"{head[:7]}  val_bpb 1.000000  (cached, ran nothing)\n"
    assert run_count(tmp_path) == 1
    metrics = json.loads((state_dir(project) / f"runs/{head}/metrics.json").read_text())
    assert metrics["commit"] == head and metrics["value"] == 1.0 and metrics["samples"] == [1.0]


def test_a_lost_doit_database_runs_the_experiment_again(tmp_path: Path):
    """doit's database decides: losing it costs a run, never gives a wrong number."""
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    assert cli(project, "measure").returncode == 0
    database = state_dir(project) / "doit.sqlite3"
    assert database.is_file(), "one doit database per project, in the state directory"
    database.unlink()

    again = cli(project, "measure")
    assert again.returncode == 0, again.stderr
    assert "(ran in " in again.stdout
    assert run_count(tmp_path) == 2
    assert cli(project, "measure").stdout.endswith("(cached, ran nothing)\n")
    assert run_count(tmp_path) == 2


def test_changing_the_run_command_runs_again(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    assert cli(project, "measure").returncode == 0

    changed = cli(project, "measure", "--run-command", counted(tmp_path, "y"))
    assert changed.returncode == 0, changed.stderr
    assert "(ran in " in changed.stdout
    assert (tmp_path / "runs.txt").read_text() == "x\ny\n"

    cached = cli(project, "measure", "--run-command", counted(tmp_path, "y"))
    assert cached.stdout.endswith("(cached, ran nothing)\n")
    assert run_count(tmp_path) == 2


def test_measure_another_commit_returns_to_the_branch(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    first = git(project, "rev-parse", "HEAD")
    second = commit_train(project, train_py(0.5), "lower")

    done = cli(project, "measure", first[:10], "HEAD")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{first[:7]}  val_bpb 1.000000  (ran in ")
    assert lines[1].startswith(f"{second[:7]}  val_bpb 0.500000  (ran in ")
    assert git(project, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(project, "rev-parse", "HEAD") == second
    assert tracked_changes(project) == ""
    assert (project / "train.py").read_text() == train_py(0.5)

    again = cli(project, "measure", first)
    assert again.stdout == f"{first[:7]}  val_bpb 1.000000  (cached, ran nothing)\n"
    assert run_count(tmp_path) == 2


@pytest.mark.parametrize(("which", "value"), [("HEAD~1", "1.000000"), ("HEAD", "0.500000")])
def test_measure_runs_the_commit_not_the_uncommitted_edits(tmp_path: Path, which: str,
                                                           value: str):
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    commit_train(project, train_py(0.5), "lower")
    sha = git(project, "rev-parse", which)
    (project / "train.py").write_text(train_py(0.25))
    (project / "notes.txt").write_text("mine")

    done = cli(project, "measure", which)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{sha[:7]}  val_bpb {value}  (ran in ")
    assert (project / "train.py").read_text() == train_py(0.25)  # the user's edit, untouched
    assert (project / "notes.txt").read_text() == "mine"
    status = set(git_run(project, "status", "--porcelain").stdout.splitlines())
    assert status - {"?? run.log"} == {" M train.py", "?? notes.txt"}


def test_forget_makes_the_next_measure_run_the_commit(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    head = git(project, "rev-parse", "HEAD")
    assert cli(project, "init").returncode == 0
    assert cli(project, "measure").returncode == 0
    doit = Path(PY).parent / "doit"
    listed = subprocess.run([str(doit), "list", "--all"], cwd=project, capture_output=True,
                            text=True)
    assert f"experiment:{head}" in listed.stdout, listed.stderr
    info = subprocess.run([str(doit), "info", f"experiment:{head}"], cwd=project,
                          capture_output=True, text=True)
    assert "up-to-date" in info.stdout, info.stdout + info.stderr
    forgot = subprocess.run([str(doit), "forget", f"experiment:{head}"], cwd=project,
                            capture_output=True, text=True)
    assert forgot.returncode == 0, forgot.stderr
    again = cli(project, "measure")
    assert "(ran in " in again.stdout, again.stdout
    assert run_count(tmp_path) == 2


def test_same_target_content_reuses_the_measurement(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), run_command=counted(tmp_path))
    first = git(project, "rev-parse", "HEAD")
    second = commit_train(project, train_py(0.5), "lower")
    third = commit_train(project, train_py(1.0), "revert: back to 1.0")

    done = cli(project, "measure", first, second, third)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2] == f"{third[:7]}  val_bpb 1.000000  (reused from {first[:7]})"
    assert run_count(tmp_path) == 2
    metrics = json.loads((state_dir(project) / f"runs/{third}/metrics.json").read_text())
    assert metrics["commit"] == third and metrics["reused_from"] == first


def test_a_reused_measurement_through_the_loop_does_not_run(tmp_path: Path):
    """The same content under another tag (within one tag it is a duplicate, never proposed
    to the engine) is not run again: its measurement is reused."""
    worse = train_py(2.0)
    plan = [{"write": {"train.py": worse}, "say": "raise value"},
            {"write": {"train.py": worse}, "say": "raise value again"}]
    project = make_project(tmp_path, train_py(1.0), plan, run_command=counted(tmp_path))

    for tag in ("dedupe", "again"):
        done = cli(project, "loop", "--tag", tag, "--iterations", "1")
        assert done.returncode == 0, done.stderr
    baseline, first, _, second = experiments(project)
    assert (first["status"], second["status"]) == ("discard", "discard")
    assert second["full_commit"] != first["full_commit"]
    assert second["reused_from"] == first["full_commit"] and second["value"] == 2.0
    assert run_count(tmp_path) == 2  # the baseline and the first proposal


# -- crash kinds ------------------------------------------------------------------------------


def stubborn_timeout(pid_file: Path) -> str:
    """train.py that starts a grandchild ignoring SIGTERM, then both sleep."""
    return (
        "import signal, subprocess, sys, time\n"
        "code = 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "time.sleep(120)'\n"
        "child = subprocess.Popen([sys.executable, '-c', code], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )


def test_every_crash_kind_is_a_crash_row_and_leaves_nothing_behind(tmp_path: Path):
    pid_file = tmp_path / "grandchild.pid"
    crashes = [
        ("exit one", "import sys\nprint('val_bpb: 0.5')\nsys.exit(1)\n", "exit code 1"),
        ("stubborn sleeper", stubborn_timeout(pid_file), "timeout: killed after 2 s"),
        ("no metric", "print('loss: 0.5')\n", "no line of the run log matches metric_regex"),
        ("nan metric", "print('val_bpb: nan')\n", "val_bpb is NaN"),
        ("inf metric", "print('val_bpb: inf')\n", "val_bpb is infinite (inf)"),
        ("tamper", "open('prepare.py', 'a').write('# changed\\n')\nprint('val_bpb: 0.1')\n",
         "tampered: the run modified prepare.py"),
    ]
    plan = [{"write": {"train.py": text}, "say": say} for say, text, _ in crashes]
    project = make_project(tmp_path, train_py(1.0), plan, time_budget=1, timeout=2,
                           readonly_files="prepare.py")
    baseline_commit = git(project, "rev-parse", "HEAD")

    done = cli(project, "loop", "--tag", "crashes", "--iterations", str(len(crashes)))
    assert done.returncode == 0, done.stderr

    logged = experiments(project)[1:]
    assert [d["description"] for d in logged] == [say for say, _, _ in crashes]
    for details, (_, _, error) in zip(logged, crashes):
        assert details["status"] == "crash" and details["value"] == 0
        assert details["error"].startswith(error), details["error"]
    assert all(r["status"] == "fail" for r in records(project)
               if r["action"] == "experiment_done" and r["details"]["status"] == "crash")
    rows = [line.split("\t") for line in tsv_lines(project)[2:]]
    assert rows == [[d["commit"], "val_bpb", "0.000000", "crash", d["description"]]
                    for d in logged]

    assert git(project, "rev-parse", "autoresearch/crashes") == baseline_commit
    assert tracked_changes(project) == ""
    assert (project / "prepare.py").read_text() == "# data and evaluation: do not modify\n"
    assert gone(int(pid_file.read_text()))
    leftovers = []
    for proc in psutil.process_iter():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()) == project:
                leftovers.append(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    assert leftovers == []


# -- decisions ----------------------------------------------------------------------------------


BASE = train_py(1.0, after="UNUSED = 0\n")


@pytest.fixture(scope="module")
def decided(tmp_path_factory) -> Path:
    """One loop: improve, equal (another constant: a comment alone would be a duplicate, not
    run), worse, crash, then the same value with fewer lines."""
    tmp = tmp_path_factory.mktemp("decisions")
    plan = [
        {"write": {"train.py": train_py(0.8, after="UNUSED = 0\n")}, "say": "lower to 0.8"},
        {"write": {"train.py": train_py(0.8, after="UNUSED = 1\n")},
         "say": "same value\twith a comment"},
        {"write": {"train.py": train_py(0.9, after="UNUSED = 0\n")}, "say": "raise to 0.9"},
        {"write": {"train.py": "import sys\nsys.exit(3)\n"}, "say": "exit early"},
        {"write": {"train.py": train_py(0.8)}, "say": "delete the unused constant"},
    ]
    project = make_project(tmp, BASE, plan)
    done = cli(project, "loop", "--tag", "decide", "--iterations", "5")
    assert done.returncode == 0, done.stderr
    return project


def test_keep_discard_crash_and_simpler(decided: Path):
    logged = experiments(decided)
    assert [(d["status"], d["reason"]) for d in logged] == [
        ("keep", "baseline"), ("keep", "improved"), ("discard", "not improved"),
        ("discard", "not improved"), ("crash", "exit code 3"), ("keep", "simpler")]
    assert [d["number"] for d in logged] == [1, 2, 3, 4, 5, 6]
    assert [d["lines"] for d in logged[:4]] == [3, 3, 3, 3] and logged[5]["lines"] == 2
    simpler = logged[5]
    assert git(decided, "rev-parse", "autoresearch/decide") == simpler["full_commit"]
    assert git(decided, "show", "autoresearch/decide:train.py") + "\n" == train_py(0.8)
    assert (decided / "train.py").read_text() == BASE  # the user's tree was never touched


def test_results_tsv_has_the_seed_columns(decided: Path):
    logged = experiments(decided)
    lines = tsv_lines(decided)
    assert lines[0] == "commit\tmetric\tvalue\tstatus\tdescription"
    expected = [
        (logged[0]["commit"], "1.000000", "keep", "baseline"),
        (logged[1]["commit"], "0.800000", "keep", "lower to 0.8"),
        (logged[2]["commit"], "0.800000", "discard", "same value with a comment"),
        (logged[3]["commit"], "0.900000", "discard", "raise to 0.9"),
        (logged[4]["commit"], "0.000000", "crash", "exit early"),
        (logged[5]["commit"], "0.800000", "keep", "delete the unused constant"),
    ]
    assert lines[1:] == ["\t".join((c, "val_bpb", v, s, d)) for c, v, s, d in expected]
    for commit, *_ in expected:
        assert re.fullmatch(r"[0-9a-f]{7}", commit)


def test_jsonl_records_have_the_seed_shape(decided: Path):
    for record in records(decided):
        assert list(record) == ["tool", "action", "status", "details", "local_time"]
        assert record["tool"] == "autoresearch"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["local_time"])
    done = [r for r in records(decided) if r["action"] == "experiment_done"]
    for record in done:
        assert set(SEED_FIELDS) <= set(record["details"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00",
                            record["details"]["timestamp"])
        assert record["details"]["tag"] == "decide" and record["details"]["metric"] == "val_bpb"
        assert record["status"] == ("fail" if record["details"]["status"] == "crash"
                                    else "success")
    baseline, improved, _, _, crash, _ = (r["details"] for r in done)
    assert baseline["prev"] is None and baseline["delta"] is None
    assert (improved["prev"], improved["delta"], improved["value"]) == (1.0, -0.2, 0.8)
    assert isinstance(improved["memory_gb"], float)
    assert crash["value"] == 0 and crash["error"] == "exit code 3"
    assert crash["full_commit"].startswith(crash["commit"])


def jq_stream(text: str) -> list[dict]:
    decoder, values, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, index = decoder.raw_decode(text, index)
        values.append(value)
    return values


def shell(project: Path, command: str) -> str:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=project,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not Path(JQ).exists(), reason="needs /usr/bin/jq")
def test_the_seed_jq_queries_work_verbatim(decided: Path):
    recent = jq_stream(shell(decided, f"grep experiment_done {EVENTS} | tail -10 | {JQ} ."))
    assert [r["details"]["number"] for r in recent] == [1, 2, 3, 4, 5, 6]

    keeps = jq_stream(shell(decided, f"{JQ} 'select(.details.status == \"keep\")' {EVENTS}"))
    assert [r["details"]["reason"] for r in keeps] == ["baseline", "improved", "simpler"]

    trend = shell(decided, f"grep experiment_done {EVENTS} | \\\n"
                           f"{JQ} -r '[.local_time[:19], .details.status, .details.value] | @tsv'")
    rows = [line.split("\t") for line in trend.splitlines()]
    assert [row[1] for row in rows] == ["keep", "keep", "discard", "discard", "crash", "keep"]
    assert [float(row[2]) for row in rows] == [1.0, 0.8, 0.8, 0.9, 0.0, 0.8]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row[0]) for row in rows)


def test_a_description_with_tab_and_newline_stays_one_row(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), [])  # the agent must not be called
    assert cli(project, "setup", "--tag", "rows").returncode == 0
    git(project, "switch", "-q", "autoresearch/rows")
    sha = commit_train(project, train_py(0.5), "first\tpart\nsecond line")

    done = cli(project, "loop", "--iterations", "1")
    assert done.returncode == 0, done.stderr
    assert f"the branch has a commit added by hand ({sha[:7]})" in done.stdout
    description = experiments(project)[-1]["description"]
    assert description.startswith("first\tpart")  # the message's first line
    one_line = description.replace("\t", " ").replace("\n", " ")
    assert tsv_lines(project)[1:] == [
        f"{git(project, 'rev-parse', 'main')[:7]}\tval_bpb\t1.000000\tkeep\tbaseline",
        f"{sha[:7]}\tval_bpb\t0.500000\tkeep\t{one_line}"]
    assert not (tmp_path / "plan.calls").exists()


# -- thresholds, checks, repeats, noise ------------------------------------------------------


@pytest.mark.parametrize(("min_delta", "expected"), [
    ("0.1", ["discard", "keep", "keep"]),
    ("10%", ["discard", "discard", "keep"]),
])
def test_min_delta_absolute_and_relative(tmp_path: Path, min_delta: str, expected: list[str]):
    plan = [{"write": {"train.py": train_py(value)}, "say": f"to {value}"}
            for value in (9.95, 9.5, 8.5)]
    project = make_project(tmp_path, train_py(10.0), plan, min_delta=min_delta)
    done = cli(project, "loop", "--tag", "delta", "--iterations", "3")
    assert done.returncode == 0, done.stderr
    logged = experiments(project)[1:]
    assert [d["status"] for d in logged] == expected
    assert all(d["reason"] == ("improved" if d["status"] == "keep" else "not improved")
               for d in logged)


def test_a_failing_check_turns_a_keep_into_a_discard(tmp_path: Path):
    plan = [{"write": {"train.py": train_py(0.5, after="BROKEN = 1\n")}, "say": "broken"},
            {"write": {"train.py": train_py(0.5)}, "say": "fine"}]
    project = make_project(tmp_path, train_py(1.0), plan,
                           check_command="! grep -q BROKEN train.py")
    done = cli(project, "loop", "--tag", "check", "--iterations", "2")
    assert done.returncode == 0, done.stderr
    broken, fine = experiments(project)[1:]
    assert (broken["status"], broken["reason"]) == ("discard", "check failed (exit 1)")
    assert (fine["status"], fine["reason"]) == ("keep", "improved")
    assert git(project, "rev-parse", "autoresearch/check") == fine["full_commit"]


def counter_train(counter: Path, samples: list[float]) -> str:
    """train.py printing samples[n % len] where n counts its runs (in a file outside the tree)."""
    return (
        "import pathlib\n"
        f"SAMPLES = {samples!r}\n"
        f"counter = pathlib.Path({str(counter)!r})\n"
        "n = int(counter.read_text()) if counter.exists() else 0\n"
        "counter.write_text(str(n + 1))\n"
        "print(f'val_bpb: {SAMPLES[n % len(SAMPLES)]:.6f}')\n"
    )


def test_repeats_record_every_sample_and_decide_on_the_median(tmp_path: Path):
    counter = tmp_path / "counter"
    plan = [{"write": {"train.py": counter_train(counter, [0.9, 0.95, 5.0])}, "say": "spiky"}]
    project = make_project(tmp_path, counter_train(counter, [1.0, 1.0, 1.0]), plan, repeats=3)
    done = cli(project, "loop", "--tag", "repeats", "--iterations", "1")
    assert done.returncode == 0, done.stderr
    baseline, spiky = experiments(project)
    assert baseline["samples"] == [1.0, 1.0, 1.0]
    assert spiky["samples"] == [0.9, 0.95, 5.0]
    assert (spiky["value"], spiky["status"], spiky["reason"]) == (0.95, "keep", "improved")
    assert counter.read_text() == "6"
    assert tsv_lines(project)[-1].split("\t")[2] == "0.950000"


def test_calibration_sets_a_noise_floor_that_small_gains_do_not_beat(tmp_path: Path):
    counter = tmp_path / "counter"
    noisy = counter_train(counter, [1.0, 1.05, 0.95, 1.1, 0.9])
    plan = [{"write": {"train.py": counter_train(counter, [0.95])}, "say": "small gain"},
            {"write": {"train.py": counter_train(counter, [0.85])}, "say": "large gain"}]
    project = make_project(tmp_path, noisy, plan)

    setup = cli(project, "setup", "--tag", "noise", "--calibrate", "5")
    assert setup.returncode == 0, setup.stderr
    assert "calibration: 5 runs, noise floor ±0.1" in setup.stdout
    calibration = [r for r in records(project) if r["action"] == "calibration"]
    assert len(calibration) == 1
    assert calibration[0]["details"]["samples"] == [1.0, 1.05, 0.95, 1.1, 0.9]
    assert calibration[0]["details"]["noise_floor"] == pytest.approx(0.1)
    assert calibration[0]["details"]["tag"] == "noise"

    done = cli(project, "loop", "--iterations", "2")
    assert done.returncode == 0, done.stderr
    baseline, small, large = experiments(project)
    assert baseline["value"] == 1.0
    assert (small["status"], small["reason"]) == ("discard", "within noise floor (±0.1)")
    assert (large["status"], large["reason"]) == ("keep", "improved")


def test_a_corrupt_doit_database_is_one_line_naming_it(tmp_path: Path):
    project = make_project(tmp_path, train_py(1.0), [])
    assert cli(project, "setup", "--tag", "db").returncode == 0
    database = state_dir(project) / "doit.sqlite3"
    database.write_bytes(b"this is not a database" * 100)
    (project / "train.py").write_text(train_py(0.5))
    git(project, "commit", "-qam", "a commit never measured")
    done = cli(project, "measure")
    assert done.returncode == 3
    assert done.stderr == (f"autoresearch: error: doit's database {database} cannot be used "
                           "(file is not a database): remove it (the measurements stay) and "
                           "run again\n")
