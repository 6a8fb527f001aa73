"""The ML demo (examples/ml-demo): runs, is deterministic, has room to improve, fails fast."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "examples" / "ml-demo"
VAL_BPB = re.compile(r"^val_bpb:\s*([-+0-9.eE]+)", re.MULTILINE)
BETTER = {"CONTEXT": "8", "BACKOFF": "5.0", "DISCOUNT": "0.5", "ALPHA": "0.1"}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    project = tmp_path / "ml-demo"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    return project


def train(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py"], cwd=project, capture_output=True,
                          text=True, timeout=60)


def val_bpb(done: subprocess.CompletedProcess) -> float:
    match = VAL_BPB.search(done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


def set_params(project: Path, values: dict[str, str]) -> None:
    path = project / "train.py"
    text = path.read_text()
    for key, value in values.items():
        text, count = re.subn(rf"^{key} = \S+", f"{key} = {value}", text, flags=re.MULTILINE)
        assert count == 1, key
    path.write_text(text)


def test_the_baseline_prints_the_output_contract(demo: Path):
    started = time.monotonic()
    done = train(demo)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "---" in lines
    summary = lines[lines.index("---") + 1:]
    keys = [line.split(":", 1)[0] for line in summary]
    assert keys == ["val_bpb", "training_seconds", "total_seconds", "num_params", "context"]
    assert 2.5 < val_bpb(done) < 3.5
    assert elapsed < 10  # about 0.4 s on two CPU cores


def test_two_runs_print_the_same_result(demo: Path):
    def stable(done):  # everything but the clock
        return [line for line in done.stdout.splitlines() if "seconds" not in line]

    first, second = train(demo), train(demo)
    assert stable(first) == stable(second)
    assert val_bpb(first) == val_bpb(second)


def test_better_hyperparameters_give_a_much_lower_val_bpb(demo: Path):
    baseline = val_bpb(train(demo))
    set_params(demo, BETTER)
    done = train(demo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert val_bpb(done) < 0.6 < baseline - 2


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("CONTEXT", "-1", "FAIL: CONTEXT must be an integer in 0..16, got -1"),
        ("CONTEXT", "2.5", "FAIL: CONTEXT must be an integer in 0..16, got 2.5"),
        ("CONTEXT", "99", "FAIL: CONTEXT must be an integer in 0..16, got 99"),
        ("BACKOFF", "0.0", "FAIL: BACKOFF must be > 0, got 0.0"),
        ("DISCOUNT", "1.5", "FAIL: DISCOUNT must be in [0, 1), got 1.5"),
        ("ALPHA", "-1.0", "FAIL: ALPHA must be > 0, got -1.0"),
    ],
)
def test_an_invalid_value_fails_fast(demo: Path, key: str, value: str, message: str):
    set_params(demo, {key: value})
    done = train(demo)
    assert done.returncode == 1
    assert done.stdout.strip() == message
    assert not VAL_BPB.search(done.stdout)


def test_the_largest_context_still_runs(demo: Path):
    set_params(demo, {"CONTEXT": "16", "BACKOFF": "0.01", "DISCOUNT": "0.99", "ALPHA": "10.0"})
    done = train(demo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert val_bpb(done) < 3


def test_prepare_describes_the_corpus(demo: Path):
    done = subprocess.run([sys.executable, "prepare.py"], cwd=demo, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("train: ")


def test_the_evaluation_rejects_a_model_that_is_not_a_distribution(demo: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(demo))
    sys.modules.pop("prepare", None)
    import prepare

    try:
        with pytest.raises(ValueError, match="sum to"):
            prepare.evaluate_bpb(lambda context, char: 0.999)
        uniform = prepare.evaluate_bpb(lambda context, char: 1 / len(prepare.VOCAB))
        assert uniform == pytest.approx(5.906890595608519)
    finally:
        sys.modules.pop("prepare", None)


@pytest.mark.parametrize("name", ["prepare.py", "train.py"])
def test_the_demo_uses_only_the_standard_library(name: str):
    tree = ast.parse((DEMO / name).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules - {"__future__", "prepare"} <= set(sys.stdlib_module_names)


def test_the_demo_ships_its_three_files_and_a_readme():
    names = {p.name for p in DEMO.iterdir() if not p.name.startswith((".", "__"))}
    assert names == {"prepare.py", "train.py", "program.md", "README.md"}
