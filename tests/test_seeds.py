"""seeds.seed_only: a change that only moves a seed, in Python (by syntax tree) and elsewhere."""

from __future__ import annotations

import pytest

from autoresearch.seeds import seed_only

TRAIN = '''\
import random

import numpy as np
import torch

SEED = 42  # the seed
LR = 0.04
torch.manual_seed(SEED)
np.random.seed(SEED)


def split(data, seed=0, *, shuffle=True):
    return train_test_split(data, test_size=0.2, random_state=seed)


def main():
    rng = np.random.default_rng(7)
    config = {"seed": 1, "lr": LR}
    parser.add_argument("--seed", type=int, default=42)
    for step in range(100):
        loss = step * LR
    print(f"val_bpb: {loss:.6f}")
'''


def edit(old: str, new: str, text: str = TRAIN) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("old, new", [
    ("SEED = 42  # the seed", "SEED = 137"),
    ("torch.manual_seed(SEED)", "torch.manual_seed(SEED + 1)"),
    ("np.random.seed(SEED)", "np.random.seed(2024)"),
    ("seed=0, *", "seed=5, *"),
    ("random_state=seed", "random_state=123"),
    ("default_rng(7)", "default_rng(8)"),
    ('{"seed": 1,', '{"seed": 99,'),
    ("default=42)", "default=7)"),
    ("LR = 0.04\n", "LR = 0.04\ntorch.cuda.manual_seed_all(3)\n"),  # a seeding line added
    ("np.random.seed(SEED)\n", ""),  # a seeding line removed
    ("rng = np.random.default_rng(7)", "rng = np.random.default_rng(seed=11)"),
], ids=["constant", "call-expression", "numpy-call", "default", "random_state", "rng",
        "config-dict", "argparse-default", "added-call", "removed-call", "keyword-form"])
def test_a_python_change_that_only_moves_a_seed_is_seed_only(old, new):
    assert seed_only(TRAIN, edit(old, new), "train.py")


def test_seed_moves_with_whitespace_and_comment_edits_are_still_seed_only():
    new = edit("SEED = 42  # the seed", "SEED   =   137   # a luckier seed")
    new = edit("LR = 0.04", "LR = 0.04  # unchanged, just commented", new)
    assert seed_only(TRAIN, new, "train.py")


@pytest.mark.parametrize("old, new", [
    ("LR = 0.04", "LR = 0.05"),
    ("test_size=0.2", "test_size=0.3"),
    ('"lr": LR', '"lr": 0.1'),
    ("range(100)", "range(200)"),
    ("SEED = 42  # the seed", "SEED = 137\nLR = 0.04 * 2"),  # a seed and something else
    ("print(f\"val_bpb: {loss:.6f}\")", "print(f\"val_bpb: {loss * 0.9:.6f}\")"),
], ids=["constant", "keyword", "dict-value", "loop", "seed-and-more", "metric-print"])
def test_a_python_change_beyond_seeds_is_not_seed_only(old, new):
    assert not seed_only(TRAIN, edit(old, new), "train.py")


def test_no_change_or_only_comments_is_not_seed_only():
    assert not seed_only(TRAIN, TRAIN, "train.py")
    assert not seed_only(TRAIN, edit("# the seed", "# the seed, chosen with care"), "train.py")


def test_python_that_does_not_parse_is_compared_line_by_line():
    broken = TRAIN + "def oops(:\n"
    assert seed_only(broken, edit("SEED = 42", "SEED = 7", broken), "train.py")
    assert not seed_only(broken, edit("LR = 0.04", "LR = 0.4", broken), "train.py")


JAVA = """\
public class Train {
    private static final long SEED = 42L; // fixed
    private static final double LR = 0.04;
    public static void main(String[] args) {
        Random rng = new Random(7);
        /* the model */
        train(rng, LR);
    }
}
"""


@pytest.mark.parametrize("filename, text, old, new, expected", [
    ("Train.java", JAVA, "SEED = 42L; // fixed", "SEED = 137L;", True),
    ("Train.java", JAVA, "new Random(7)", "new Random(8)", True),
    ("Train.java", JAVA, "/* the model */", "/* a better model */", False),
    ("Train.java", JAVA, "LR = 0.04", "LR = 0.05", False),
    ("Train.java", JAVA, "train(rng, LR);", "train(rng, LR);\n        rng.setSeed(3);", True),
    ("Train.java", JAVA, "train(rng, LR);", "if (seed) { train(rng, LR); }", False),
    ("params.yaml", "seed: 42\nlr: 0.1\n", "seed: 42", "seed: 43", True),
    ("params.yaml", "seed: 42\nlr: 0.1\n", "lr: 0.1", "lr: 0.2", False),
    ("config.json", '{"random_state": 1, "depth": 3}', '"random_state": 1', '"random_state": 2',
     True),
    ("config.json", '{"random_state": 1, "depth": 3}', '"depth": 3', '"depth": 4', False),
    ("main.go", "func main() {\n\trand.Seed(1)\n\trun()\n}\n", "rand.Seed(1)", "rand.Seed(9)",
     True),
    ("main.c", "int main() {\n  srand(3);\n  return run(4);\n}\n", "srand(3)", "srand(4)",
     True),
    ("main.c", "int main() {\n  srand(3);\n  return run(4);\n}\n", "run(4)", "run(5)", False),
    ("main.cpp", "std::mt19937 gen(42);\nint depth = 3;\n", "gen(42)", "gen(7)", True),
    ("main.cpp", "std::mt19937 gen(42);\nint depth = 3;\n", "depth = 3", "depth = 4", False),
], ids=["java-constant", "java-random", "java-comment", "java-lr", "java-added-seed",
        "java-control-flow", "yaml-seed", "yaml-lr", "json-random_state", "json-depth",
        "go-seed", "c-srand", "c-other", "cpp-engine", "cpp-other"])
def test_other_languages_line_by_line(filename, text, old, new, expected):
    assert seed_only(text, edit(old, new, text), filename) is expected
