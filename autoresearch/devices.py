"""How many experiments run at once, and on which GPU: the loop's ``--jobs``, ``--gpus``
and ``--prefetch`` options turned into a plan.

``--gpus 0,1,2,3`` (or ``all``: every GPU ``nvidia-smi -L`` lists) gives each experiment
slot one GPU through ``CUDA_VISIBLE_DEVICES``; ``--jobs`` then defaults to one per GPU.
Without GPUs the slots share the cores and ``--jobs`` defaults to 1. ``--prefetch`` runs
twice as many workers as slots: while one experiment runs, the next candidate is prepared.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from autoresearch import output
from autoresearch.errors import ConfigError

_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")  # an index (0) or a UUID (GPU-8f...)
_LISTED = re.compile(r"^GPU (\d+):", re.MULTILINE)
DETECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class Plan:
    jobs: int  # experiments at once (slots)
    workers: int  # agents and work trees at once
    devices: tuple[str | None, ...]  # one per slot: a CUDA device, or None (the cores)

    @property
    def parallel(self) -> bool:
        return self.workers > 1


def plan(options: dict[str, Any]) -> Plan:
    """The plan for ``loop``'s options; ConfigError naming the option when one is wrong."""
    gpus = parse_gpus(options.get("gpus"))
    jobs = options.get("jobs") or 0
    if not isinstance(jobs, int) or jobs < 0:
        raise ConfigError(f"--jobs {jobs!r} must be a whole number >= 1, e.g. 2")
    jobs = jobs or len(gpus) or 1
    if gpus and jobs > len(gpus):
        raise ConfigError(f"--jobs {jobs} needs one GPU per job but --gpus gives {len(gpus)} "
                          f"({','.join(gpus)}); use --jobs {len(gpus)} or list more GPUs")
    devices = tuple(gpus[:jobs]) if gpus else (None,) * jobs
    workers = jobs * 2 if options.get("prefetch") else jobs
    return Plan(jobs=jobs, workers=workers, devices=devices)


def parse_gpus(text: str | None) -> tuple[str, ...]:
    """``"0,1"`` -> ("0", "1"); ``"all"`` -> the GPUs nvidia-smi lists; empty -> ()."""
    text = (text or "").strip()
    if not text:
        return ()
    if text.lower() == "all":
        found = detect()
        if not found:
            output.warn("--gpus all: nvidia-smi lists no GPU; the experiments share the cores")
        return found
    ids = tuple(part.strip() for part in text.split(","))
    bad = [part for part in ids if not _DEVICE.match(part)]
    if bad or len(set(ids)) != len(ids):
        raise ConfigError(f"--gpus {text!r} is not a list of distinct GPU ids; use e.g. "
                          "0,1,2,3 or all")
    return ids


def detect() -> tuple[str, ...]:
    """The GPU indices ``nvidia-smi -L`` prints; () when it is missing or fails."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return ()
    try:
        done = subprocess.run([program, "-L"], capture_output=True, text=True, check=False,
                              timeout=DETECT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if done.returncode != 0:
        return ()
    return tuple(_LISTED.findall(done.stdout))


def environment(device: str | None) -> dict[str, str] | None:
    """What a run on ``device`` adds to its environment."""
    return None if device is None else {"CUDA_VISIBLE_DEVICES": device}
