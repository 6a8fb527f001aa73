"""The built-in tune agent: finding numbers, editing them in place, and the Optuna study."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from autoresearch import agents
from autoresearch.agents import tune
from autoresearch.agents.base import AgentFailure, AgentRequest, AgentSettings
from autoresearch.errors import ConfigError, EnvironmentProblem

DEMO = Path(__file__).resolve().parents[1] / "examples" / "ml-demo"
VAL_BPB = re.compile(r"^val_bpb:\s*([-+0-9.eE]+)", re.MULTILINE)

SAMPLE = textwrap.dedent("""\
    import os

    LR = 0.04  # learning rate
    DEPTH = 3  # layers
    BATCH: int = 64
    NEG = -2.5  # a negative float
    NAME = "gpt"  # not a number
    DEBUG = True  # a bool, not a number
    PAIR = (1, 2)
    lower = 7  # lower case and unmarked: ignored
    warmup = 10  # tune: 0..100
    DROPOUT = 0.1  # dropout (tune: 0..0.5)
    DECAY = 0.01  # weight decay, tune: 1e-4..0.1 log
    HEADS = 4  # tune: 1..16 int log
    SCALE = 2  # tune: 0.5..4 float
    ZERO = 0.0
    BIG = 1_000


    def f():
        INNER = 5  # not top level and unmarked: ignored
        momentum = 0.9  # tune
        return INNER, momentum
    """)


def by_key(params):
    return {p.key: p for p in params}


def request(project: Path, *targets: str, seed: int = 0, direction: str = "lower_is_better"):
    return AgentRequest(
        prompt="ignored",
        project_dir=project,
        target_files=targets or ("train.py",),
        work_dir=project / ".autoresearch" / "agent",
        settings=AgentSettings(seed=seed),
        metric_name="metric",
        direction=direction,
    )


def load_study(project: Path, targets=("train.py",), direction="lower_is_better"):
    return optuna.load_study(study_name=tune.study_name(targets, direction),
                             storage=f"sqlite:///{project / '.autoresearch' / 'tune.db'}")


# --- finding parameters ---------------------------------------------------------


def test_finds_upper_case_numbers_and_marked_lines():
    params = by_key(tune.find_params(SAMPLE, "train.py"))
    assert list(params) == ["LR", "DEPTH", "BATCH", "NEG", "warmup", "DROPOUT", "DECAY",
                            "HEADS", "SCALE", "ZERO", "BIG", "momentum"]
    assert (params["LR"].value, params["LR"].is_int, params["LR"].text) == (0.04, False, "0.04")
    assert (params["DEPTH"].value, params["DEPTH"].is_int) == (3, True)
    assert params["NEG"].text == "-2.5" and params["NEG"].value == -2.5
    assert params["BIG"].value == 1000 and params["BIG"].text == "1_000"


def test_derived_and_explicit_ranges():
    params = by_key(tune.find_params(SAMPLE, "train.py"))

    def space(key):
        p = params[key]
        return p.is_int, p.low, p.high, p.log, p.explicit

    assert space("LR") == (False, pytest.approx(0.004), pytest.approx(0.4), True, False)
    assert space("DEPTH") == (True, 1, 12, True, False)
    assert space("BATCH") == (True, 16, 256, True, False)
    assert space("NEG") == (False, -25, -0.25, False, False)
    assert space("ZERO") == (False, 0, 1, False, False)
    assert space("momentum") == (False, pytest.approx(0.09), 1.0, True, False)
    assert space("warmup") == (True, 0, 100, False, True)
    assert space("DROPOUT") == (False, 0, 0.5, False, True)
    assert space("DECAY") == (False, 1e-4, 0.1, True, True)
    assert space("HEADS") == (True, 1, 16, True, True)
    assert space("SCALE") == (False, 0.5, 4, False, True)


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("tune: fast", "train.py:1: cannot read the tune range in '# tune: fast'; "
                       "write e.g. '# tune: 0.001..0.1 log' or '# tune: 1..8 int'"),
        ("tune: 5..1", "train.py:1: bad tune range 'tune: 5..1': LOW must be below HIGH"),
        ("tune: 0..1 log", "train.py:1: bad tune range 'tune: 0..1 log': "
                           "a log range needs LOW > 0"),
        ("tune: 0.5..3 int", "train.py:1: bad tune range 'tune: 0.5..3 int': "
                             "an int range needs whole-number bounds"),
    ],
)
def test_a_bad_range_is_a_config_error(comment: str, message: str):
    with pytest.raises(ConfigError) as caught:
        tune.find_params(f"X = 1  # {comment}\n", "train.py")
    assert str(caught.value) == message


def test_a_comment_that_merely_mentions_tuning_is_no_marker():
    assert tune.find_params("def f():\n    x = 1  # fine-tune later\n", "a.py") == []


def test_other_languages_by_regular_expression():
    source = textwrap.dedent("""\
        const LR = 0.04;  // learning rate
        private static final int DEPTH = 3;
        final float DECAY = 0.5f; // tune: 0.1..0.9
        let width = 8; // tune: 1..32 int
        let height = 9;
        const NAME = "x";
        MAX_STEPS := 100
        """)
    params = by_key(tune.find_params(source, "main.js"))
    assert list(params) == ["LR", "DEPTH", "DECAY", "width", "MAX_STEPS"]
    assert params["DECAY"].text == "0.5" and not params["DECAY"].is_int
    assert params["width"].explicit and params["width"].is_int
    edited = tune.edit(source, list(params.values()),
                       {"LR": "0.01", "DECAY": "0.25", "width": "16"})
    assert edited.splitlines()[0] == "const LR = 0.01;  // learning rate"
    assert edited.splitlines()[2] == "final float DECAY = 0.25f; // tune: 0.1..0.9"
    assert edited.splitlines()[3] == "let width = 16; // tune: 1..32 int"


def test_edit_changes_only_the_literals():
    source = SAMPLE.replace("\n", "\r\n").replace("import os", "import os  # é ü")
    params = tune.find_params(source, "train.py")
    literals = {"LR": "0.0213", "NEG": "1.5", "HEADS": "8", "momentum": "0.95"}
    edited = tune.edit(source, params, literals)
    expected = (source.replace("LR = 0.04", "LR = 0.0213").replace("NEG = -2.5", "NEG = 1.5")
                .replace("HEADS = 4", "HEADS = 8").replace("momentum = 0.9", "momentum = 0.95"))
    assert edited == expected


@pytest.mark.parametrize(
    ("value", "is_int", "text"),
    [(3, True, "3"), (3.0, False, "3.0"), (0.021345678, False, "0.02135"),
     (1e-05, False, "1e-05"), (12345.6, False, "1.235e+04"), (-2.0, False, "-2.0")],
)
def test_format_value(value, is_int: bool, text: str):
    assert tune.format_value(value, is_int) == text


# --- the agent -------------------------------------------------------------------


def test_module_is_the_agent():
    agent = agents.get("tune")
    assert agent is tune
    assert (agent.name, agent.executable) == ("tune", None)
    assert agent.install_hint == "pip install 'autoresearch[tune]'"
    assert agent.command_line(request(Path("."))) == []
    agents.ensure_available(agent)


def test_propose_edits_only_the_numbers(tmp_path: Path):
    (tmp_path / "train.py").write_text(SAMPLE)
    proposal = tune.propose(request(tmp_path))
    after = (tmp_path / "train.py").read_text()
    params = tune.find_params(SAMPLE, "train.py")
    assert after == tune.edit(SAMPLE, params, proposal.meta["params"])
    assert after != SAMPLE
    assert proposal.meta["trial"] == 0
    assert proposal.description.startswith("tune: LR 0.04 -> ")
    assert (proposal.cost_usd, proposal.input_tokens, proposal.output_tokens) == (0.0, None, None)
    json.dumps(proposal.meta)  # the log can hold it
    for p in tune.find_params(after, "train.py"):
        assert p.low <= p.value <= p.high, p


def test_optimises_a_synthetic_metric(tmp_path: Path):
    target = tmp_path / "train.py"
    target.write_text("X = 8  # tune: 0..10\nY = 0.05  # tune: 0.01..1 log\n")

    def metric() -> float:
        values = {p.key: p.value for p in tune.find_params(target.read_text(), "train.py")}
        return (values["X"] - 3) ** 2 + (values["Y"] - 0.5) ** 2

    best, best_text = metric(), target.read_text()
    initial = best
    for _ in range(15):
        proposal = tune.propose(request(tmp_path))
        value = metric()
        tune.observe(proposal, value, "keep" if value < best else "discard")
        if value < best:
            best, best_text = value, target.read_text()
        target.write_text(best_text)
    assert best < initial / 4
    assert len(load_study(tmp_path).trials) >= 15


def test_the_study_persists_across_processes(tmp_path: Path):
    (tmp_path / "train.py").write_text("A = 1.0\nB = 10\n")
    for _ in range(2):
        tune.observe(tune.propose(request(tmp_path)), 1.0, "discard")
    code = textwrap.dedent(f"""
        from pathlib import Path
        from autoresearch.agents import tune
        from autoresearch.agents.base import AgentRequest, AgentSettings
        project = Path({str(tmp_path)!r})
        print(tune.propose(AgentRequest("", project, ("train.py",),
              project / ".autoresearch" / "agent", AgentSettings())).meta["trial"])
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert len(load_study(tmp_path).trials) == 3


def test_observe_tells_values_and_failures(tmp_path: Path):
    (tmp_path / "train.py").write_text("A = 1.0\n")
    first = tune.propose(request(tmp_path))
    tune.observe(first, 0.5, "keep")
    second = tune.propose(request(tmp_path))
    tune.observe(second, None, "crash")
    tune.observe(second, None, "crash")  # telling twice is harmless
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[0].value == 0.5


def test_a_dangling_trial_is_failed_by_the_next_proposal(tmp_path: Path):
    (tmp_path / "train.py").write_text("A = 1.0\n")
    tune.propose(request(tmp_path))  # the loop was killed before observe
    assert load_study(tmp_path).trials[0].state.name == "RUNNING"
    tune.propose(request(tmp_path))
    states = [t.state.name for t in load_study(tmp_path).trials]
    assert states == ["FAIL", "RUNNING"]


def test_a_proposal_always_changes_the_file(tmp_path: Path):
    target = tmp_path / "train.py"
    target.write_text("N = 1  # tune: 1..2 int\n")
    for expected in ("2", "1", "2"):
        proposal = tune.propose(request(tmp_path))
        assert target.read_text() == f"N = {expected}  # tune: 1..2 int\n"
        tune.observe(proposal, 1.0, "keep")


def test_ranges_are_fixed_when_the_study_first_sees_them(tmp_path: Path):
    target = tmp_path / "train.py"
    target.write_text("LR = 0.04\n")
    tune.observe(tune.propose(request(tmp_path)), 1.0, "keep")
    target.write_text("LR = 0.3\n")  # a kept value: the derived range must not move
    tune.propose(request(tmp_path))
    space = load_study(tmp_path).user_attrs["space"]
    assert space["LR"] == ["float", pytest.approx(0.004), pytest.approx(0.4), True]


def test_higher_is_better_maximises(tmp_path: Path):
    (tmp_path / "train.py").write_text("A = 1.0\n")
    tune.propose(request(tmp_path, direction="higher_is_better"))
    study = load_study(tmp_path, direction="higher_is_better")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE


def test_several_target_files_prefix_the_keys(tmp_path: Path):
    (tmp_path / "a.py").write_text("A = 1.0\n")
    (tmp_path / "b.js").write_text("const B = 2;\n")
    proposal = tune.propose(request(tmp_path, "a.py", "b.js"))
    assert set(proposal.meta["params"]) == {"a.py:A", "b.js:B"}


def test_no_parameters_is_a_config_error_at_once(tmp_path: Path):
    """Nothing to tune is deterministic: exit 2 at once, never retried with backoff."""
    (tmp_path / "train.py").write_text("import os\nname = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        tune.propose(request(tmp_path))
    assert str(caught.value) == (
        "agent 'tune' found no numeric hyperparameters in train.py: add UPPER_CASE = number "
        "assignments or '# tune' markers, or choose another agent"
    )


def test_without_optuna_it_names_the_extra(tmp_path: Path, monkeypatch):
    (tmp_path / "train.py").write_text("A = 1.0\n")
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(EnvironmentProblem) as caught:
        tune.propose(request(tmp_path))
    assert str(caught.value) == (
        "agent 'tune' needs the tune extra: pip install 'autoresearch[tune]'"
    )
    assert caught.value.exit_code == 3


# --- the demo: the loop's keep/reset by hand ------------------------------------------


def test_tune_improves_the_demo(tmp_path: Path):
    project = tmp_path / "ml-demo"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    target = project / "train.py"

    def run() -> float | None:
        done = subprocess.run([sys.executable, "train.py"], cwd=project, capture_output=True,
                              text=True, timeout=60)
        match = VAL_BPB.search(done.stdout)
        return float(match.group(1)) if done.returncode == 0 and match else None

    baseline = run()
    best, best_text = baseline, target.read_text()
    for _ in range(12):
        proposal = tune.propose(request(project))
        value = run()
        status = "crash" if value is None else "keep" if value < best else "discard"
        tune.observe(proposal, value, status)
        if status == "keep":
            best, best_text = value, target.read_text()
        target.write_text(best_text)  # discard: back to the best version
    assert baseline is not None and best < baseline - 1.5


def test_a_python_syntax_error_is_an_agent_failure(tmp_path: Path):
    (tmp_path / "train.py").write_text("LR = 0.04\nif:\n")
    with pytest.raises(AgentFailure, match=r"^tune could not parse train.py: invalid syntax"):
        tune.propose(request(tmp_path))


def test_parallel_workers_do_not_fail_each_others_trials(tmp_path: Path):
    """Two live workers (threads) each hold a trial; neither proposal fails the other's."""
    import dataclasses
    import threading

    proposals = {}
    release = threading.Event()
    tuner = tune.create()  # one loop's tuner, shared by its workers

    def worker(name: str, proposed: threading.Event) -> None:
        work = tmp_path / name
        work.mkdir()
        (work / "train.py").write_text("A = 1.0\n")
        shared = dataclasses.replace(request(work), work_dir=tmp_path / ".autoresearch" / "agent")
        proposals[name] = tuner.propose(shared)
        proposed.set()
        release.wait(30)

    threads = []
    for name in ("w1", "w2"):
        proposed = threading.Event()
        thread = threading.Thread(target=worker, args=(name, proposed))
        thread.start()
        assert proposed.wait(60)
        threads.append(thread)
    try:
        states = [t.state.name for t in load_study(tmp_path).trials]
        assert states == ["RUNNING", "RUNNING"]  # the first worker's trial survived
    finally:
        release.set()
        for thread in threads:
            thread.join()
    for value, name in ((0.5, "w1"), (0.25, "w2")):
        tuner.observe(proposals[name], value, "discard")
    assert [t.state.name for t in load_study(tmp_path).trials] == ["COMPLETE", "COMPLETE"]
