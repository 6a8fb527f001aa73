"""Tests for autoresearch.search.normalise and .novelty: duplicates and similar experiments."""

from __future__ import annotations

import pytest

from autoresearch.search.normalise import change, change_key, fingerprint, normalise
from autoresearch.search.novelty import NoveltyIndex, Past, most_similar

TRAIN = """\
LR = 0.04  # learning rate
DEPTH = 4


def model(x):
    x = norm(x)
    return head(x)
"""


def py(text: str) -> dict[str, str]:
    return {"train.py": text}


def test_whitespace_and_comment_changes_keep_the_fingerprint():
    restyled = (
        "# a comment the agent added\n"
        "LR=0.04\n"
        "DEPTH   =   4     # depth\n"
        "\n\n\n"
        "def model( x ):\n"
        "  x = norm(x)   # two-space indentation now\n"
        "  return head(x)\n"
    )
    assert fingerprint(py(restyled)) == fingerprint(py(TRAIN))


@pytest.mark.parametrize("edited", [
    TRAIN.replace("0.04", "0.05"),
    TRAIN.replace("    return head(x)", "    x = norm(x)\n    return head(x)"),
    TRAIN.replace("    return head(x)", "    if x:\n        x = norm(x)\n    return head(x)"),
])
def test_a_real_change_changes_the_fingerprint(edited):
    assert fingerprint(py(edited)) != fingerprint(py(TRAIN))


def test_indentation_is_code_in_python():
    inside = "for i in xs:\n    a()\n    b()\n"
    outside = "for i in xs:\n    a()\nb()\n"
    assert normalise(inside, "loop.py") != normalise(outside, "loop.py")


def test_c_style_comments_and_spacing_are_ignored_in_other_languages():
    before = "const LR = 0.04;\nfunction f(a, b) { return a + b; }\n"
    after = "/* tuned */ const LR=0.04; // lr\nfunction f(a,b){\n  return a+b; }\n"
    assert normalise(before, "index.ts") == ["const LR=0.04;", "function f(a,b){return a+b;}"]
    assert normalise(after, "index.ts") == ["const LR=0.04;", "function f(a,b){", "return a+b;}"]


def test_the_change_is_the_normalised_lines_removed_and_added():
    edited = TRAIN.replace("LR = 0.04  # learning rate", "LR = 0.05  # raised")
    assert change(py(TRAIN), py(edited)) == ("train.py:-0|LR=0.04", "train.py:+0|LR=0.05")
    assert change(py(TRAIN), py(TRAIN.replace("# learning rate", "# lr"))) == ()
    assert change_key(("a",)) != change_key(("b",))


def test_a_duplicate_is_recognised_despite_whitespace_and_comments():
    index = NoveltyIndex()
    tried = TRAIN.replace("0.04", "0.05")
    index.add(3, fingerprint(py(tried)), change(py(TRAIN), py(tried)))
    again = tried.replace("LR = 0.05  # learning rate", "LR=0.05 # try 0.05 again")
    duplicate = index.duplicate(fingerprint(py(again)), change(py(TRAIN), py(again)))
    assert duplicate is not None
    assert (duplicate.of, duplicate.reason) == (
        3, "same code as #3 (whitespace and comments aside)")


def test_a_comment_only_edit_is_no_change():
    edited = TRAIN.replace("DEPTH = 4", "DEPTH = 4  # keep")
    duplicate = NoveltyIndex().duplicate(fingerprint(py(edited)), change(py(TRAIN), py(edited)))
    assert duplicate is not None and duplicate.of is None
    assert duplicate.reason == "no change (whitespace and comments aside)"


def test_the_same_change_on_another_base_is_a_duplicate_unless_turned_off():
    raised = TRAIN.replace("0.04", "0.05")
    deeper = TRAIN.replace("DEPTH = 4", "DEPTH = 6")
    raised_on_deeper = raised.replace("DEPTH = 4", "DEPTH = 6")
    seen = (fingerprint(py(raised)), change(py(TRAIN), py(raised)))
    candidate = (fingerprint(py(raised_on_deeper)), change(py(deeper), py(raised_on_deeper)))
    strict, loose = NoveltyIndex(), NoveltyIndex(same_change=False)
    for index in (strict, loose):
        index.add(7, *seen)
    assert strict.duplicate(*candidate).reason == "same change as #7 (on another base)"
    assert loose.duplicate(*candidate) is None


def test_a_new_candidate_is_not_a_duplicate():
    index = NoveltyIndex()
    index.add(0, fingerprint(py(TRAIN)), ())
    edited = TRAIN.replace("DEPTH = 4", "DEPTH = 8")
    assert index.duplicate(fingerprint(py(edited)), change(py(TRAIN), py(edited))) is None


def past(number: int, description: str, before: str, after: str, status="discard") -> Past:
    return Past(number, status, description, change(py(before), py(after)), 0.01)


def test_the_most_similar_past_experiments_come_first():
    history = [
        past(1, "raise the learning rate", TRAIN, TRAIN.replace("0.04", "0.08")),
        past(2, "use a deeper model", TRAIN, TRAIN.replace("DEPTH = 4", "DEPTH = 8")),
        past(3, "lower the learning rate", TRAIN, TRAIN.replace("0.04", "0.02")),
        past(4, "swap the norm for rms norm", TRAIN, TRAIN.replace("norm(x)", "rms_norm(x)")),
    ]
    found = most_similar("raise the learning rate a bit", ("train.py:-0|LR=0.04",
                                                            "train.py:+0|LR=0.06"), history)
    assert [s.past.number for s in found] == [1, 3]
    assert found[0].score > found[1].score
    assert most_similar("raise the learning rate", (), history, limit=1)[0].past.number == 1


def test_a_resumed_loop_rebuilds_the_index_from_the_hashes_in_its_records():
    tried = TRAIN.replace("0.04", "0.05")
    index = NoveltyIndex()
    index.remember(2, fingerprint(py(tried)), change_key(change(py(TRAIN), py(tried))))
    assert index.duplicate(fingerprint(py(tried)), change(py(TRAIN), py(tried))).of == 2
    deeper = TRAIN.replace("DEPTH = 4", "DEPTH = 6")
    on_deeper = tried.replace("DEPTH = 4", "DEPTH = 6")
    assert index.duplicate(fingerprint(py(on_deeper)), change(py(deeper), py(on_deeper))).of == 2
