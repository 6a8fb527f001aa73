"""A character-level language model in plain Python: the file the agent edits.

An interpolated n-gram model: the probability of the next character mixes the
counts seen after the last CONTEXT characters with the prediction of the next
shorter context, down to a smoothed unigram. Run it with `python train.py`; it
prints `---` and then `key: value` lines, among them `val_bpb` (lower is better).
"""

import math
import sys
import time
from collections import Counter

from prepare import MAX_CONTEXT, VOCAB, evaluate_bpb, load_splits

t_start = time.time()

# Hyperparameters: change them, or change the model below.
CONTEXT = 1  # characters of context the model conditions on (tune: 0..10 int)
BACKOFF = 50.0  # pseudo-counts given to the shorter context when mixing (tune: 0.01..100 log)
DISCOUNT = 0.0  # subtracted from every seen count, moved to the shorter context (tune: 0..0.99)
ALPHA = 1.0  # add-alpha smoothing of the unigram distribution (tune: 0.001..10 log)


def fail(message: str) -> None:
    print(f"FAIL: {message}")
    sys.exit(1)


if not isinstance(CONTEXT, int) or not 0 <= CONTEXT <= MAX_CONTEXT:
    fail(f"CONTEXT must be an integer in 0..{MAX_CONTEXT}, got {CONTEXT!r}")
if not BACKOFF > 0:
    fail(f"BACKOFF must be > 0, got {BACKOFF!r}")
if not 0 <= DISCOUNT < 1:
    fail(f"DISCOUNT must be in [0, 1), got {DISCOUNT!r}")
if not ALPHA > 0:
    fail(f"ALPHA must be > 0, got {ALPHA!r}")

# --- training: count every substring of length 1..CONTEXT+1 -----------------

train_text, _ = load_splits()
t_train = time.time()
counts = Counter()  # n-gram -> how often it occurs
for n in range(1, CONTEXT + 2):
    counts.update(train_text[i:i + n] for i in range(len(train_text) - n + 1))
totals = Counter()  # context -> how many characters followed it
types = Counter()  # context -> how many different characters followed it
for gram, count in counts.items():
    totals[gram[:-1]] += count
    types[gram[:-1]] += 1
training_seconds = time.time() - t_train


def prob(context: str, char: str) -> float:
    """P(char | context): a smoothed unigram, refined by ever longer contexts."""
    p = (counts[char] + ALPHA) / (totals[""] + ALPHA * len(VOCAB))
    for k in range(1, min(CONTEXT, len(context)) + 1):
        history = context[-k:]
        total = totals.get(history)
        if not total:  # never seen: no longer context was seen either
            break
        seen = max(counts.get(history + char, 0) - DISCOUNT, 0.0)
        p = (seen + (BACKOFF + DISCOUNT * types[history]) * p) / (total + BACKOFF)
    return p


# --- evaluation (fixed, in prepare.py) ---------------------------------------

val_bpb = evaluate_bpb(prob)
if math.isnan(val_bpb) or val_bpb > 100:
    fail(f"val_bpb is {val_bpb}")

print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {training_seconds:.2f}")
print(f"total_seconds:    {time.time() - t_start:.2f}")
print(f"num_params:       {len(counts)}")
print(f"context:          {CONTEXT}")
