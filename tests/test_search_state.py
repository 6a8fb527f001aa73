"""The coordinator's search state (autoresearch/search/state.py), without a loop."""

from __future__ import annotations

from autoresearch.search import hybrid
from autoresearch.search.nearmiss import NearMiss, NearMissPool
from autoresearch.search.normalise import change, change_key, fingerprint
from autoresearch.search.plateau import Plateau
from autoresearch.search.state import SearchState


def state(**options) -> SearchState:
    return SearchState(plateau=Plateau(options.pop("pivot_after", 2),
                                       options.pop("stop_after", None)),
                       pool=NearMissPool(5, "lower_is_better"), **options)


def code(value: str) -> tuple[str, tuple[str, ...]]:
    before, after = {"t.py": "X = 1\n"}, {"t.py": f"X = {value}\n"}
    return fingerprint(after), change(before, after)


def test_a_pivot_is_asked_once_per_plateau_length():
    search = state(pivot_after=2)
    for number in (2, 3):
        search.logged(1, number, "discard", f"try {number}", *code(str(number)), 0.1)
    first = search.next_ask(1, can_tune=False)
    again = search.next_ask(1, can_tune=False)  # e.g. after an agent failure
    assert any(part.startswith("## Plateau: 2") for part in first.sections)
    assert not again.sections


def test_a_plateau_stops_at_stop_after():
    search = state(pivot_after=5, stop_after=3)
    for number in (2, 3, 4):
        search.logged(1, number, "crash", "x", None, (), None)
    assert search.next_ask(1, can_tune=False).stop


def test_the_same_change_in_flight_on_another_worker_is_a_duplicate():
    search = state()
    fp, lines = code("2")
    assert search.duplicate(1, fp, lines, "two") is None
    repeat = search.duplicate(2, fp, lines, "two again")
    assert repeat is not None and repeat.reason == ("the same change as worker 1's, being "
                                                    "measured now")
    assert search.next_ask(2, can_tune=False).sections[0].startswith(
        "## Your last proposal was not run")
    search.logged(1, 2, "discard", "two", fp, lines, 0.5)
    assert search.duplicate(3, fp, lines, "two, third time").of == 2


def test_replaying_the_ledger_restores_the_index_and_the_plateau():
    fp, lines = code("3")
    records = [
        {"action": "experiment_done", "details": {"tag": "t", "number": 1, "status": "keep"}},
        {"action": "experiment_done", "details": {"tag": "t", "number": 2, "status": "discard",
                                                  "fingerprint": fp,
                                                  "change": change_key(lines)}},
        {"action": "experiment_done", "details": {"tag": "other", "number": 1,
                                                  "status": "discard"}},
    ]
    search = state()
    assert list(search.replaying("t", records)) == records  # passed on for the history
    assert search.without_keep == 1
    assert search.duplicate(1, fp, lines, "three").of == 2


def test_a_branch_ask_names_the_near_miss_it_starts_from():
    search = state(pivot_after=1)
    search.offer_near_miss(NearMiss(2, "c" * 40, "b" * 40, 1.01, "close"), 1.0, 0.05)
    search.logged(1, 2, "discard", "close", *code("5"), 0.01)
    ask = search.next_ask(1, can_tune=False)
    assert ask.start == "c" * 40 and ask.plan.kind == "branch"


def test_the_tuner_answers_after_the_models_repeat():
    search = state(with_tuner=True, tune_share=0.0)
    assert search.next_ask(1, can_tune=True).proposer == hybrid.MODEL
    search.no_change(1)
    assert search.next_ask(1, can_tune=True).proposer == hybrid.TUNE
    assert search.next_ask(1, can_tune=True).proposer == hybrid.MODEL
