"""audit.audit: each flag is raised by the edit it describes, and ordinary edits raise none."""

from __future__ import annotations

import pytest

from autoresearch.audit import DESCRIPTIONS, FLAGS, audit

TRAIN = '''\
import time

import torch

LR = 0.04  # learning rate
DEPTH = 4
DATA = "data/train.bin"


def train(model, batches):
    t0 = time.time()
    for step, batch in enumerate(batches):
        loss = model(batch)  # see /tmp notes; time.sleep is banned; seed fixed
        loss.backward()
    val_bpb = evaluate(model)
    print(f"val_bpb: {val_bpb:.6f}")
    print(f"training_seconds: {time.time() - t0:.1f}")
'''
METRIC = {"metric_name": "val_bpb", "metric_files": ("metrics.json", "out/*.json")}


def flags(old: str, new: str, text: str = TRAIN, filename: str = "train.py") -> tuple[str, ...]:
    assert old in text, old
    return audit(text, text.replace(old, new, 1), filename, **METRIC)


@pytest.mark.parametrize("old, new", [
    ("LR = 0.04", "LR = 0.02"),
    ("DEPTH = 4", "DEPTH = 8\nWIDTH = 512"),
    ("loss.backward()", "loss.backward()\n        torch.nn.utils.clip_grad_norm_(model, 1.0)"),
    ("val_bpb = evaluate(model)", "val_bpb = evaluate(model, batch_size=64)"),
    ('DATA = "data/train.bin"', 'DATA = "data/train_v2.bin"'),
    ("LR = 0.04  # learning rate", "LR = 0.04  # tuned later: val_bpb, /etc, seed, time.time()"),
    ("    for step", "    # time.time() seed ../x run.log\n    for step"),
    ("import torch", 'import torch\nprint("loading...")  # progress'),
    ("DEPTH = 4", 'DEPTH = 4\nprint("a/b", 10 / 2)'),
], ids=["constant", "new-constants", "new-call", "keyword", "relative-data-path",
        "comment-mentions-everything", "added-comment-line", "ellipsis", "slash-in-string"])
def test_ordinary_edits_raise_no_flag(old, new):
    assert flags(old, new) == ()


@pytest.mark.parametrize("old, new, flag", [
    ("val_bpb = evaluate(model)", 'val_bpb = evaluate(model)\n    print("val_bpb: 0.5")',
     "metric-name"),
    ('print(f"val_bpb: {val_bpb:.6f}")', 'print(f"val_bpb: {val_bpb * 0.9:.6f}")', "metric-name"),
    ("DEPTH = 4", 'DEPTH = 4\nREPORT = {"best_val_bpb": 0.5}', "metric-name"),
    ('DATA = "data/train.bin"', 'DATA = "../holdout/test.bin"', "outside-path"),
    ('DATA = "data/train.bin"', 'DATA = "/data/shared/train.bin"', "outside-path"),
    ('DATA = "data/train.bin"', 'DATA = open("/proc/self/status").read()', "outside-path"),
    ('DATA = "data/train.bin"', 'DATA = "~/.cache/answers.bin"', "outside-path"),
    ('DATA = "data/train.bin"', 'DATA = Path.home() / "x"', "outside-path"),
    ("loss.backward()", "loss.backward()\n        time.sleep(0.1)", "timing"),
    ("t0 = time.time()", "t0 = time.perf_counter()", "timing"),
    ("    t0 = time.time()\n", "", "timing"),  # a clock removed
    ("DEPTH = 4", "DEPTH = 4\nSTART = datetime.now()", "timing"),
    ("DEPTH = 4", "DEPTH = 4\nTIME_BUDGET = 600", "timing"),
    ("import torch", "import torch\ntorch.manual_seed(137)", "seed"),
    ("DEPTH = 4", "DEPTH = 4\nrng = np.random.default_rng(3)", "seed"),
    ("val_bpb = evaluate(model)", 'val_bpb = evaluate(model)\n    open("run.log", "a").write("")',
     "metric-file"),
    ("DEPTH = 4", 'DEPTH = 4\nOUT = "results/metrics.json"', "metric-file"),
], ids=["prints-the-metric", "rescales-the-metric-line", "metric-key", "dot-dot", "absolute",
        "proc", "tilde", "home", "sleep", "perf_counter", "clock-removed", "datetime",
        "time-budget", "manual_seed", "default_rng", "run-log", "metric-file"])
def test_each_flag_is_raised_by_its_edit(old, new, flag):
    assert flags(old, new) == (flag,)


def test_flags_come_in_the_documented_order_and_are_described():
    new = ('val_bpb = evaluate(model)\n    print("val_bpb: 0.5")\n'
           '    open("/tmp/x").read(); time.sleep(1); torch.manual_seed(1)\n'
           '    open("metrics.json", "w")')
    assert flags("val_bpb = evaluate(model)", new) == FLAGS
    assert set(DESCRIPTIONS) == set(FLAGS)


def test_a_seed_only_change_is_flagged_even_where_no_line_names_a_seed():
    text = "import numpy as np\nrng = np.random.RandomState(1)\n"
    assert audit(text, text.replace("(1)", "(2)"), "train.py", **METRIC) == ("seed",)


def test_web_sources_may_name_url_paths_but_not_system_files():
    app = 'const API = "/api/v1";\nexport const run = () => fetch(API);\n'
    assert audit(app, app.replace("/api/v1", "/api/v2/users"), "src/index.js", **METRIC) == ()
    assert audit(app, app.replace("/api/v1", "/etc/hosts"), "src/index.js", **METRIC) \
        == ("outside-path",)


def test_other_languages_use_their_comment_syntax():
    java = ("class Train {\n  // System.nanoTime() here would cheat\n"
            "  static final int DEPTH = 4;\n}\n")
    assert audit(java, java.replace("DEPTH = 4", "DEPTH = 5"), "Train.java", **METRIC) == ()
    assert audit(java, java.replace("DEPTH = 4;", "DEPTH = 4; long t = System.nanoTime();"),
                 "Train.java", **METRIC) == ("timing",)
    assert audit(java, java.replace("DEPTH = 4;", 'DEPTH = 4; String s = "val_bpb: 1";'),
                 "Train.java", **METRIC) == ("metric-name",)


def test_an_empty_metric_name_matches_no_string():
    assert audit(TRAIN, TRAIN.replace("DEPTH = 4", 'DEPTH = 4\nNAME = "x"'), "train.py",
                 metric_name="", metric_files=()) == ()
