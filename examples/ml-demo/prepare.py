"""Fixed data and evaluation for the ml-demo project. Do not modify.

The corpus is generated here from a small embedded grammar with a fixed seed, so
there is nothing to download and every run sees exactly the same text. The last
tenth of the paragraphs is the validation split; `evaluate_bpb` scores a model on
it in bits per byte, the number `train.py` reports as `val_bpb`.

Run `python prepare.py` to see the corpus size and a sample.
"""

from __future__ import annotations

import math
import random

SEED = 1337  # the corpus seed: the data never changes
PARAGRAPHS = 300  # how many paragraphs the grammar writes
VAL_EVERY = 10  # every 10th paragraph goes to the validation split
MAX_CONTEXT = 16  # evaluate_bpb hands the model at most this many preceding characters
CHECK_EVERY = 257  # evaluate_bpb checks that the model's probabilities sum to 1 this often

VOCAB = "\n !',.;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # every character

# --- the grammar --------------------------------------------------------------

NAMES = ["the fox", "the old miller", "a young crow", "the miller's wife", "the grey wolf",
         "a small hare", "the shepherd", "the king's daughter", "an old tortoise", "the baker",
         "the blacksmith", "a wandering monk", "the weaver", "a lame goose", "the ferryman",
         "the widow Mabel", "young Tobias", "the owl", "a stray dog", "the lighthouse keeper"]
ADJECTIVES = ["quick", "tired", "clever", "hungry", "quiet", "proud", "foolish", "patient",
              "cold", "golden", "heavy", "bright", "crooked", "gentle", "rusty", "velvet",
              "muddy", "silver", "bitter", "ancient", "narrow", "wicked", "humble", "frozen"]
NOUNS = ["bread", "river", "stone", "lantern", "basket", "field", "bridge", "apple", "bell",
         "feather", "mill", "road", "cottage", "coin", "anvil", "orchard", "kettle", "ladder",
         "shawl", "hammer", "window", "chimney", "saddle", "map", "jug", "thimble", "barrel",
         "wagon", "candle", "key"]
VERBS = ["carried", "found", "watched", "lost", "mended", "followed", "counted", "hid",
         "praised", "crossed", "sold", "remembered", "polished", "borrowed", "buried",
         "painted", "stole", "weighed", "guarded", "forgot", "traded", "juggled"]
PLACES = ["by the river", "near the mill", "under the bridge", "in the dark wood",
          "at the edge of the field", "on the long road", "behind the cottage",
          "beside the well", "up the hill", "across the frozen lake", "inside the barn",
          "at the market", "below the castle walls"]
TIMES = ["In the morning", "At dusk", "Before the rain", "Long ago", "One winter",
         "After supper", "When the bell rang", "At midnight", "On market day",
         "Three days later", "Every spring"]
MORALS = ["slow and steady wins the race", "pride comes before a fall",
          "a kind word is never lost", "look before you leap", "many hands make light work",
          "a bird in the hand is worth two in the bush", "honesty is the best policy",
          "little by little does the trick"]


def _pick(rng: random.Random, words: list[str]) -> str:
    """Zipf-like choice: the first words of a list are the most common."""
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    return rng.choices(words, weights)[0]


def _noun_phrase(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"the {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)}"
    return f"the {_pick(rng, NOUNS)}"


def _sentence(rng: random.Random) -> str:
    who, other = _pick(rng, NAMES), _pick(rng, NAMES)
    kind = rng.randrange(6)
    if kind == 0:
        s = f"{who} {_pick(rng, VERBS)} {_noun_phrase(rng)} {_pick(rng, PLACES)}."
    elif kind == 1:
        s = f"{_pick(rng, TIMES)}, {who} {_pick(rng, VERBS)} {_noun_phrase(rng)}."
    elif kind == 2:
        s = f"'Who {_pick(rng, VERBS)} {_noun_phrase(rng)}?' asked {who}."
    elif kind == 3:
        s = (f"{who} was {_pick(rng, ADJECTIVES)} and {_pick(rng, ADJECTIVES)}, "
             f"so {other} {_pick(rng, VERBS)} {_noun_phrase(rng)}.")
    elif kind == 4:
        s = f"{who} {_pick(rng, VERBS)} {_noun_phrase(rng)}; {other} said nothing."
    else:
        s = f"And so {who} learned that {_pick(rng, MORALS)}!"
    return s[0].upper() + s[1:]


def _paragraphs() -> list[str]:
    rng = random.Random(SEED)
    return [" ".join(_sentence(rng) for _ in range(rng.randint(3, 7))) + "\n"
            for _ in range(PARAGRAPHS)]


# --- the splits and the evaluation --------------------------------------------


def load_splits() -> tuple[str, str]:
    """Return (train_text, val_text); the same strings on every call and machine."""
    paragraphs = _paragraphs()
    train = "".join(p for i, p in enumerate(paragraphs) if (i + 1) % VAL_EVERY)
    val = "".join(p for i, p in enumerate(paragraphs) if not (i + 1) % VAL_EVERY)
    return train, val


def evaluate_bpb(prob, text: str | None = None) -> float:
    """Bits per byte of `prob` on the validation split (lower is better).

    `prob(context, char)` returns the model's probability that `char` comes next
    after `context`, the up to MAX_CONTEXT preceding characters. Every
    CHECK_EVERY-th position the probabilities over VOCAB must sum to 1.
    """
    text = load_splits()[1] if text is None else text
    bits = 0.0
    for i, char in enumerate(text):
        context = text[max(0, i - MAX_CONTEXT):i]
        p = prob(context, char)
        if not 0.0 < p <= 1.0 + 1e-9:  # a little slack for rounding
            raise ValueError(f"model gave probability {p!r} to {char!r} at position {i}")
        if i % CHECK_EVERY == 0:
            total = math.fsum(prob(context, c) for c in VOCAB)
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"model probabilities sum to {total:.9f} at position {i}, not 1")
        bits -= math.log2(min(p, 1.0))
    return bits / len(text.encode("utf-8"))


if __name__ == "__main__":
    train, val = load_splits()
    assert set(train + val) <= set(VOCAB), sorted(set(train + val) - set(VOCAB))
    print(f"train: {len(train):,} characters, val: {len(val):,} characters")
    print(f"uniform baseline: {math.log2(len(VOCAB)):.3f} bits per byte")
    print("sample:", val[:300])
