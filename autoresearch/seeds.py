"""Does a change only move a random seed? (issue 15, item 4: never kept on one measurement)

``seed_only(old, new, filename)`` is True when the two texts differ, and differ only in
seeds; whitespace and comments never count. What counts as a seed:

- a value assigned to a name, attribute or string key named like a seed (``SEED = 42``,
  ``cfg.random_seed = 1``, ``config["seed"] = 3``, ``{"seed": 42}``);
- a keyword argument or parameter default named like one (``random_state=0``,
  ``def train(seed=42)``);
- the arguments of a call that seeds (``torch.manual_seed(0)``, ``np.random.seed(0)``,
  ``random.Random(1)``, ``np.random.default_rng(7)``, ``jax.random.PRNGKey(0)``, ``srand(3)``)
  or that names a seed in a string (``add_argument("--seed", default=42)``,
  ``os.environ.get("SEED", "1")``);
- whole statements of those kinds, added or removed (``torch.manual_seed(137)``).

"Named like a seed": the name contains ``seed``, ``random_state`` or ``prng_key`` (any case).
Python files are compared as syntax trees; other files, and Python that does not parse, line
by line: a changed line may differ only in its number and string literals and must name a
seed, and an added or removed line must be a simple statement that names one.
"""

from __future__ import annotations

import ast
import difflib
import re

from autoresearch.decide import code_text

SEED_NAME = re.compile(r"seed|random_?state|prng_?key", re.IGNORECASE)
SEED_CALL = re.compile(  # the dotted name of a call whose arguments seed a generator
    r"(?:^|\.)(?:\w*seed\w*|default_rng|RandomState|PRNGKey|PCG64|MT19937|Philox|srand)$"
    r"|(?:^|\.)random\.(?:Random|key)$|^Random$", re.IGNORECASE)
# Outside Python: words that make a line about seeding (Random(42) in Java, rand.NewSource in Go)
SEED_WORD = re.compile(r"seed|random_?state|prng_?key|\bsrand\b|NewSource|mt19937|default_rng|"
                       r"\bRandom\s*\(", re.IGNORECASE)
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|\d[\w.]*|[A-Za-z_]\w*|\S')
_CONTROL = re.compile(r"\b(?:if|else|for|while|return|def|function|fn|class)\b|[{}]")
_MASK = "\0seed"


def seed_only(old_text: str, new_text: str, filename: str) -> bool:
    """True when ``new_text`` differs from ``old_text`` only in seeds (see the module doc)."""
    if filename.endswith(".py"):
        try:
            old, new = _masked(old_text), _masked(new_text)
        except (SyntaxError, ValueError):
            pass
        else:
            return old[0] == new[0] and old[1] != new[1]
    return _lines_seed_only(old_text, new_text, filename)


# -- Python: compare the trees with every seed taken out ------------------------------------

def _masked(text: str) -> tuple[str, list[str]]:
    """The tree's dump with seeds replaced by a mark, and the seeds it took out, in order."""
    mask = _SeedMask()
    tree = mask.visit(ast.parse(text))
    return ast.dump(tree), mask.seeds


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "?"


def _names_seed(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) \
        and bool(SEED_NAME.search(node.value))


def _is_seed_target(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return bool(SEED_NAME.search(node.id))
    if isinstance(node, ast.Attribute):
        return bool(SEED_NAME.search(node.attr))
    if isinstance(node, ast.Subscript):
        return _names_seed(node.slice)
    if isinstance(node, (ast.Tuple, ast.List)):
        return bool(node.elts) and all(_is_seed_target(e) for e in node.elts)
    return False


def _is_seed_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and bool(SEED_CALL.search(_dotted(node.func)))


def _is_seed_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        return all(_is_seed_target(t) for t in node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _is_seed_target(node.target)
    return isinstance(node, ast.Expr) and _is_seed_call(node.value)


class _SeedMask(ast.NodeTransformer):
    def __init__(self) -> None:
        self.seeds: list[str] = []

    def _hide(self, *nodes: ast.AST) -> ast.Constant:
        self.seeds.append(" ".join(ast.dump(n) for n in nodes))
        return ast.Constant(_MASK)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for _, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                for statement in [s for s in value if _is_seed_statement(s)]:
                    self._hide(statement)
                    value.remove(statement)
        return super().generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        if node.arg and SEED_NAME.search(node.arg):
            node.value = self._hide(node.value)
            return node
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.Call:
        if _is_seed_call(node):
            node.args, node.keywords = [self._hide(*node.args, *node.keywords)], []
        elif any(_names_seed(a) for a in node.args):
            others = [a for a in node.args if not _names_seed(a)] + node.keywords
            node.args = [a for a in node.args if _names_seed(a)] + [self._hide(*others)]
            node.keywords = []
        return self.generic_visit(node)

    def visit_arguments(self, node: ast.arguments) -> ast.arguments:
        positional = node.posonlyargs + node.args
        offset = len(positional) - len(node.defaults)
        node.defaults = [self._hide(d) if SEED_NAME.search(positional[offset + i].arg) else d
                         for i, d in enumerate(node.defaults)]
        node.kw_defaults = [self._hide(d) if d is not None and SEED_NAME.search(a.arg) else d
                            for a, d in zip(node.kwonlyargs, node.kw_defaults)]
        return self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> ast.Dict:
        node.values = [self._hide(v) if k is not None and _names_seed(k) else v
                       for k, v in zip(node.keys, node.values)]
        return self.generic_visit(node)


# -- other languages: line by line ----------------------------------------------------------

def _normalized(text: str, filename: str) -> list[str]:
    return [" ".join(line.split()) for line in code_text(text, filename) if line.strip()]


def _is_literal(token: str) -> bool:
    return token[0].isdigit() or token[0] in "\"'"


def _seeds_at(tokens: list[str], i: int) -> bool:
    """The name (or string key) just before the literal ``tokens[i]`` is a seed's; for a
    constructor call (``gen(42)``) the type before it may be instead (``mt19937 gen(42)``)."""
    names = [j for j in range(i) if tokens[j][0].isalpha() or tokens[j][0] in "\"'_"]
    for j in reversed(names[-2:]):
        called = tokens[j + 1:j + 2] == ["("]
        if SEED_WORD.search(tokens[j].strip("\"'") + ("(" if called else "")):
            return True
        if not called:
            return False
    return False


def _literal_edit(old: str, new: str) -> bool:
    """The lines differ only in number or string literals, each one a seed's."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) != len(b):
        return False
    return all(x == y or (_is_literal(x) and _is_literal(y) and _seeds_at(a, i))
               for i, (x, y) in enumerate(zip(a, b)))


def _seed_statement(line: str) -> bool:
    return bool(SEED_WORD.search(line)) and not _CONTROL.search(line)


def _lines_seed_only(old_text: str, new_text: str, filename: str) -> bool:
    old, new = _normalized(old_text, filename), _normalized(new_text, filename)
    changes = [c for c in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
               if c[0] != "equal"]
    for tag, i1, i2, j1, j2 in changes:
        if tag == "replace" and i2 - i1 == j2 - j1 and all(
                _literal_edit(a, b) for a, b in zip(old[i1:i2], new[j1:j2])):
            continue
        if not all(_seed_statement(line) for line in old[i1:i2] + new[j1:j2]):
            return False
    return bool(changes)
