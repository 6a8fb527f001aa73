"""The built-in tuner: Optuna's TPE sampler picks new values for a file's numeric hyperparameters.

It needs no model and no network, so it drives ``autoresearch demo`` and loops in CI.
The prompt is ignored; each proposal rewrites number literals in the target files.

Which numbers it tunes
  - top-level ``UPPER_CASE = <number>`` assignments in a ``.py`` file (found with ``ast``;
    comments with ``tokenize``); in other languages, lines like ``const LR = 0.04;``,
    ``final int DEPTH = 3;`` or ``LR := 0.04`` (a regular expression);
  - any assignment whose line carries a tune marker in its comment, whatever its name.

The marker: a comment that starts with ``tune``, or contains ``tune:`` and a range::

    DEPTH = 3       # tune                          range derived from 3
    LR = 0.04       # learning rate, tune: 0.001..0.1 log
    LAYERS = 4      # tune: 1..8 int
    DROPOUT = 0.1   # (tune: 0..0.5)

A range is ``LOW..HIGH`` followed by any of ``int``, ``float``, ``log``. Without ``int`` or
``float`` it is an int range when the literal and both bounds are whole numbers.

Derived ranges (no explicit range): int v >= 1 -> [max(1, v // 4), 4 v] on a log scale;
float v > 0 -> [v / 10, 10 v] on a log scale, capped at 1 when v < 1 (fractions stay
fractions); 0 -> [0, 1]; negative values mirror the positive rule on a linear scale.
A derived range is fixed the first time the study sees the parameter (kept in the study's
user attributes), so keeping a better value does not move the range under the sampler.

Each proposal sets every parameter (the loop resets the file to the best version after a
discard, so nothing accumulates) and only the number literal changes: comments, spacing and
line endings stay as they were. The study lives in ``tune.db`` (SQLite) in the tool's state,
named after the target files and the direction, so it survives restarts. A trial asked but
never told (the process was killed) is told as failed by the next proposal. Alone, the
tuner's study holds only its own trials.

With ``agent: X+tune`` the coordinator also hands the tuner what it learnt from the other
proposer and the baseline (``learn``: measured trees of the study's structure, added as
finished trials before the next ask) and, after a keep that changed the code's structure, a new study named after
that structure, started warm from the best observations of the old one (``restart``;
autoresearch/search/tuning.py).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import math
import re
import threading
import time
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

from autoresearch.agents.base import AgentFailure, AgentRequest, Proposal
from autoresearch.errors import ConfigError, EnvironmentProblem

name = "tune"
executable = None  # built in: nothing to find on PATH
install_hint = "pip install 'autoresearch[tune]'"

DB_NAME = "tune.db"  # in the state's agent/, the parent of the agent's work_dir
SIGNIFICANT_DIGITS = 4  # floats are written like 0.02134
MAX_ASKS = 20  # fresh samples tried before giving up on finding a change

_UPPER = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NUMBER = r"[-+]?(?:\d[\d_]*(?:\.\d[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?"
_MARKER = re.compile(r"^tune\b|\btune\s*:", re.IGNORECASE)
_RANGE = re.compile(
    rf"\btune\s*:\s*(?P<low>{_NUMBER})\s*\.\.\s*(?P<high>{_NUMBER})"
    r"(?P<words>(?:[\s,]+(?:int|float|log))*)",
    re.IGNORECASE,
)
_OTHER = re.compile(  # const LR = 0.04;  final int DEPTH = 3;  LR := 0.04  // comment
    r"^\s*(?:[A-Za-z_][\w<>\[\]]*\s+)*"
    r"(?P<name>[A-Za-z_]\w*)\s*(?::\s*[\w<>\[\]]+\s*)?:?=\s*"
    rf"(?P<num>{_NUMBER})(?P<suffix>[fFdDlL]?)\s*;?\s*"
    r"(?P<comment>(?://|#|--).*)?$"
)


@dataclass(frozen=True)
class Param:
    """One tunable number: where its literal is and the range to search."""

    key: str  # unique name in the study: LR, or train.py:LR with several target files
    file: str
    line: int  # 1-based
    start: int  # character offsets of the literal within the line
    end: int
    text: str  # the literal as written
    value: float
    is_int: bool
    low: float
    high: float
    log: bool
    explicit: bool  # the range came from a tune marker


# --- finding the parameters ---------------------------------------------------


def find_params(text: str, filename: str) -> list[Param]:
    """The tunable numbers of one file, in file order."""
    find = _find_python if filename.endswith(".py") else _find_other
    found = find(text, filename)
    seen: set[str] = set()
    unique = []
    for param in found:
        key = param.key if param.key not in seen else f"{param.key}@{param.line}"
        seen.add(key)
        unique.append(replace(param, key=key))
    return unique


def _find_python(text: str, filename: str) -> list[Param]:
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise AgentFailure(
            f"tune could not parse {filename}: {exc.msg} (line {exc.lineno})"
        ) from None
    lines = _lines(text)
    comments = _python_comments(text)
    top_level = {id(node) for node in tree.body}
    params = []
    for node in ast.walk(tree):
        target, value = _assignment(node)
        if target is None or value is None:
            continue
        number = _literal(value)
        if number is None:
            continue
        comment = comments.get(node.lineno, "")
        marked = bool(_MARKER.search(comment))
        upper = isinstance(target, ast.Name) and _UPPER.match(target.id)
        if not (marked or (upper and id(node) in top_level)) or value.lineno != value.end_lineno:
            continue
        raw = lines[value.lineno - 1]
        start = _char_offset(raw, value.col_offset)
        end = _char_offset(raw, value.end_col_offset)
        params.append(_param(ast.unparse(target), filename, value.lineno, start, end,
                             raw[start:end], number, comment if marked else ""))
    return sorted(params, key=lambda p: (p.line, p.start))


def _assignment(node: ast.AST) -> tuple[ast.expr | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target = node.target
    else:
        return None, None
    if not isinstance(target, (ast.Name, ast.Attribute, ast.Subscript)):
        return None, None
    return target, node.value


def _literal(node: ast.expr) -> int | float | None:
    """The value of a (signed) int or float literal; None for anything else, bools included."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return None
    if not isinstance(node.value, (int, float)) or not math.isfinite(node.value):
        return None
    return sign * node.value


def _python_comments(text: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line, without the '#'."""
    comments = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text, newline="").readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string[1:].strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return comments


def _find_other(text: str, filename: str) -> list[Param]:
    params = []
    for number, raw in enumerate(_lines(text), start=1):
        match = _OTHER.match(raw.rstrip("\r\n"))
        if not match:
            continue
        comment = (match["comment"] or "").lstrip("/#-").strip()
        marked = bool(_MARKER.search(comment))
        if not (marked or _UPPER.match(match["name"])):
            continue
        literal = match["num"]
        is_int = not re.search(r"[.eE]", literal) and match["suffix"] not in ("f", "F", "d", "D")
        value = int(literal.replace("_", "")) if is_int else float(literal.replace("_", ""))
        params.append(_param(match["name"], filename, number, match.start("num"),
                             match.end("num"), literal, value, comment if marked else ""))
    return params


def _param(key: str, filename: str, line: int, start: int, end: int, text: str,
           value: int | float, marker: str) -> Param:
    is_int = isinstance(value, int)
    explicit = parse_range(marker, is_int, f"{filename}:{line}") if marker else None
    if explicit is not None:
        is_int, low, high, log = explicit
    else:
        low, high, log = derive_range(value, is_int)
    return Param(key, filename, line, start, end, text, value, is_int, low, high, log,
                 explicit is not None)


def parse_range(comment: str, literal_is_int: bool, where: str):
    """(is_int, low, high, log) from a ``tune: LOW..HIGH [int|float|log]`` comment, else None."""
    match = _RANGE.search(comment)
    if match is None:
        if re.search(r"\btune\s*:", comment, re.IGNORECASE):
            raise ConfigError(
                f"{where}: cannot read the tune range in '# {comment}'; "
                "write e.g. '# tune: 0.001..0.1 log' or '# tune: 1..8 int'"
            )
        return None
    low_text, high_text = match["low"].replace("_", ""), match["high"].replace("_", "")
    words = set(match["words"].lower().replace(",", " ").split())
    whole = not re.search(r"[.eE]", low_text + high_text)
    is_int = "int" in words or ("float" not in words and literal_is_int and whole)
    low, high, log = float(low_text), float(high_text), "log" in words
    problem = None
    if not low < high:
        problem = "LOW must be below HIGH"
    elif log and low <= 0:
        problem = "a log range needs LOW > 0"
    elif is_int and not (low.is_integer() and high.is_integer()):
        problem = "an int range needs whole-number bounds"
    if problem:
        raise ConfigError(f"{where}: bad tune range '{match.group(0)}': {problem}")
    return is_int, low, high, log


def derive_range(value: int | float, is_int: bool) -> tuple[float, float, bool]:
    """(low, high, log) around the current value; see the module docstring."""
    if value == 0:
        return 0.0, 1.0, False
    if value < 0:
        low, high, _ = derive_range(-value, is_int)
        return -high, -low, False
    if is_int:
        return float(max(1, int(value) // 4)), float(int(value) * 4), True
    high = value * 10 if value >= 1 else min(value * 10, 1.0)
    return value / 10, high, True


def _lines(text: str) -> list[str]:
    """The lines of ``text`` with their own endings, split as Python's tokenizer does."""
    return io.StringIO(text, newline="").readlines()


def _char_offset(line: str, byte_offset: int) -> int:
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="replace"))


# --- writing values -------------------------------------------------------------


def format_value(value: float, is_int: bool) -> str:
    """A literal for ``value``: ints as ints, floats with a '.' or an exponent."""
    if is_int:
        return str(int(round(value)))
    text = f"{value:.{SIGNIFICANT_DIGITS}g}"
    return text if re.search(r"[.eEn]", text) else text + ".0"


def edit(text: str, params: list[Param], literals: dict[str, str]) -> str:
    """``text`` with each param's literal replaced by ``literals[param.key]``; nothing else."""
    lines = _lines(text)
    for param in sorted(params, key=lambda p: (p.line, p.start), reverse=True):
        if param.key in literals:
            raw = lines[param.line - 1]
            lines[param.line - 1] = raw[:param.start] + literals[param.key] + raw[param.end:]
    return "".join(lines)


# --- the agent -------------------------------------------------------------------


def command_line(request: AgentRequest) -> list[str]:
    return []  # built in: no program to run


class Tuner:
    """One loop's tuner: remembers the trials it asked and has not told yet, so a trial a
    parallel worker is still running is never mistaken for one a killed loop left behind.
    Calls are serialised (workers may call from several threads)."""

    name = name
    executable = executable
    install_hint = install_hint
    command_line = staticmethod(command_line)

    def __init__(self) -> None:
        self.in_flight: set[tuple[str, int]] = set()
        self.structure: str | None = None  # the study's code structure (agent X+tune)
        self.learnt: list = []  # search.tuning.Observation: added before the next ask
        self._lock = threading.Lock()

    def learn(self, observations) -> None:
        """Measured trees another proposer made (``search.tuning.Observation``): finished
        trials of the study before its next ask."""
        with self._lock:
            self.learnt.extend(observations)

    def restart(self, structure: str, warm) -> None:
        """From the next ask on, the study of ``structure``, holding ``warm`` first."""
        with self._lock:
            self.structure = structure
            self.learnt = list(warm)

    def propose(self, request: AgentRequest) -> Proposal:
        """Ask the study for new values, write them into the target files, say what changed."""
        with self._lock:
            return self._propose(request)

    def _propose(self, request: AgentRequest) -> Proposal:
        started = time.monotonic()
        optuna = _optuna()
        texts, params = _targets(request.project_dir, request.target_files)
        study = _study(optuna, request, self.structure)
        _fail_dangling(optuna, study, self.in_flight)
        self._add_learnt(optuna, study, params)
        study.sampler = optuna.samplers.TPESampler(seed=request.settings.seed + len(study.trials))
        trial, literals = _ask_for_a_change(optuna, study, params, request)
        self.in_flight.add((study.study_name, trial.number))
        for file, text in texts.items():
            new = edit(text, [p for p in params if p.file == file], literals)
            if new != text:
                (request.project_dir / file).write_bytes(new.encode("utf-8"))
        description = "tune: " + ", ".join(
            f"{p.key} {p.text} -> {literals[p.key]}" for p in params
            if _differs(p, literals[p.key]))
        return Proposal(
            description=description, cost_usd=0.0, input_tokens=None, output_tokens=None,
            duration_s=time.monotonic() - started, output_tail=description,
            meta={"trial": trial.number, "study": study.study_name,
                  "storage": str(_db_path(request)), "params": literals})

    def _add_learnt(self, optuna, study, params: list[Param]) -> None:
        if not self.learnt:
            return
        space = _space(study, params)
        finished = []
        for observation in self.learnt:
            chosen = {k: v for k, v in observation.params.items()
                      if k in space and space[k][1] <= v <= space[k][2]}
            if not chosen:
                continue
            ints = {k for k in chosen if space[k][0] == "int"}
            finished.append(optuna.trial.create_trial(
                params={k: int(v) if k in ints else v for k, v in chosen.items()},
                distributions={k: _distribution(optuna, space[k]) for k in chosen},
                value=observation.value, user_attrs={"experiment": observation.number},
                state=optuna.trial.TrialState.COMPLETE if observation.value is not None
                else optuna.trial.TrialState.FAIL))
        study.add_trials(finished)
        self.learnt = []

    def observe(self, proposal: Proposal, value: float | None, status: str) -> None:
        """Tell the study how the proposal's trial did; a crash or no value is a FAIL."""
        meta = proposal.meta or {}
        if "trial" not in meta or "storage" not in meta:
            return
        with self._lock:
            optuna = _optuna()
            self.in_flight.discard((meta["study"], meta["trial"]))
            study = optuna.load_study(study_name=meta["study"],
                                      storage=_url(Path(meta["storage"])))
            if value is None or not math.isfinite(value) or status == "crash":
                study.tell(meta["trial"], state=optuna.trial.TrialState.FAIL,
                           skip_if_finished=True)
            else:
                study.tell(meta["trial"], value, skip_if_finished=True)


def create() -> Tuner:
    return Tuner()


def propose(request: AgentRequest) -> Proposal:
    """One proposal from a tuner of its own (every RUNNING trial counts as dangling)."""
    return Tuner().propose(request)


def observe(proposal: Proposal, value: float | None, status: str) -> None:
    Tuner().observe(proposal, value, status)


def _ask_for_a_change(optuna, study, params: list[Param], request: AgentRequest):
    """A trial whose values differ from the file's; repeats of the current values are failed."""
    space = _space(study, params)
    distributions = {p.key: _distribution(optuna, space[p.key]) for p in params}
    for _ in range(MAX_ASKS):
        try:
            trial = study.ask(distributions)
        except ValueError as exc:  # e.g. a parameter changed between int and float
            raise AgentFailure(
                f"tune: the study no longer fits the file ({exc}); "
                f"delete {_db_path(request)} to start a new study"
            ) from None
        literals = {p.key: format_value(trial.params[p.key], space[p.key][0] == "int")
                    for p in params}
        if any(_differs(p, literals[p.key]) for p in params):
            return trial, literals
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # nothing to try: ask again
    raise AgentFailure(f"tune: {MAX_ASKS} samples in a row repeated the current values; "
                       "widen the ranges or add parameters")


def require_optuna(agent: str = name) -> None:
    """The tune extra is installed (checked without importing it), else EnvironmentProblem."""
    if importlib.util.find_spec("optuna") is None:
        raise EnvironmentProblem(f"agent '{agent}' needs the tune extra: {install_hint}")


def _optuna():
    require_optuna()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def params_of(texts: dict[str, str]) -> list[Param]:
    """The tunable constants of the target files (name -> text), in order; with several
    files each key is prefixed with its file (``train.py:LR``). AgentFailure when a file
    cannot be parsed."""
    several = len(texts) > 1
    return [replace(param, key=f"{file}:{param.key}") if several else param
            for file, text in texts.items() for param in find_params(text, file)]


def require_tunable(project_dir: Path, target_files: tuple[str, ...]) -> None:
    """``agent: tune`` has constants to tune in the targets (ConfigError otherwise), checked
    before a loop makes anything."""
    _targets(project_dir, target_files)


def _targets(project_dir: Path, target_files: tuple[str, ...]
             ) -> tuple[dict[str, str], list[Param]]:
    texts = {}
    for file in target_files:
        try:
            texts[file] = (project_dir / file).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AgentFailure(f"tune could not read {file}: {exc}") from None
    params = params_of(texts)
    if not params:
        files = ", ".join(target_files) or "the target files"
        raise ConfigError(f"agent 'tune' found no numeric hyperparameters in {files}: add "
                          "UPPER_CASE = number assignments or '# tune' markers, or choose "
                          "another agent")
    return texts, params


def _db_path(request: AgentRequest) -> Path:
    return request.work_dir.parent / DB_NAME


def _url(path: Path) -> str:
    return f"sqlite:///{path.resolve().as_posix()}"


def study_name(target_files: tuple[str, ...], direction: str) -> str:
    goal = "maximize" if direction == "higher_is_better" else "minimize"
    return f"tune:{','.join(sorted(target_files))}:{goal}"


def _study(optuna, request: AgentRequest, structure: str | None = None):
    path = _db_path(request)
    path.parent.mkdir(parents=True, exist_ok=True)
    name_ = study_name(request.target_files, request.direction)
    return optuna.create_study(
        study_name=name_ + (f":{structure}" if structure else ""),
        storage=_url(path),
        direction=name_.rsplit(":", 1)[1],
        load_if_exists=True,
    )


def _fail_dangling(optuna, study, in_flight: set[tuple[str, int]]) -> None:
    """Trials asked but never told (the loop was killed mid-run) count as failures; the
    ones this tuner asked and a worker is still measuring do not."""
    running = optuna.trial.TrialState.RUNNING
    for trial in study.get_trials(deepcopy=False, states=(running,)):
        if (study.study_name, trial.number) in in_flight:
            continue
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


def _space(study, params: list[Param]) -> dict[str, list]:
    """Each parameter's [kind, low, high, log]: stored when first seen, explicit ranges win."""
    stored = dict(study.user_attrs.get("space", {}))
    for p in params:
        entry = ["int" if p.is_int else "float", p.low, p.high, p.log]
        old = stored.get(p.key)
        if old is None or old[0] != entry[0] or (p.explicit and old != entry):
            stored[p.key] = entry
    if stored != study.user_attrs.get("space"):
        study.set_user_attr("space", stored)
    return stored


def _distribution(optuna, entry: list):
    kind, low, high, log = entry
    if kind == "int":
        return optuna.distributions.IntDistribution(int(low), int(high), log=log)
    return optuna.distributions.FloatDistribution(low, high, log=log)


def _differs(param: Param, literal: str) -> bool:
    return float(literal) != float(param.value)

