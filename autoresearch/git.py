"""Every git operation autoresearch performs, through GitPython, with argument lists only.

No value from config or agent output is ever put into a shell string: each call
passes its arguments as a list to ``git``. Other modules ask this one.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from autoresearch import git_objects
from autoresearch.errors import EnvironmentProblem, UserError

MIN_GIT_VERSION = (2, 20)
# Used only when the user has no identity configured (fresh CI machines).
FALLBACK_IDENTITY = ("autoresearch", "autoresearch@localhost")
# file_at keeps the last few (commit sha, path) contents it read: a commit never changes, and
# one experiment reads its target files three times (content key twice, line count once).
FILE_CACHE_ENTRIES = 16
FILE_CACHE_MAX_BYTES = 1024 * 1024  # larger files are read again each time
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
# No hook runs in anything the tool does with git: a hook planted in the repository (by an
# unconfined agent, or by a candidate's run, which can reach the git directory from its
# worktree) would otherwise run on the tool's checkouts and ref updates, and could rewrite
# what is about to be measured.
NO_HOOKS = ("-c", f"core.hooksPath={os.devnull}")


def _import_gitpython():
    if shutil.which("git") is None:
        raise EnvironmentProblem(
            "git is not installed or not on PATH: install it (e.g. apt-get install git)"
        )
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import git as gitpython

    return gitpython


@dataclass(frozen=True)
class Change:
    """One entry of ``git status``: a two-letter code and a path relative to the root."""

    code: str
    path: str

    @property
    def untracked(self) -> bool:
        return self.code == "??"


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a commit's tree: its path, git mode (0o100644, 0o100755, 0o120000 for
    a symbolic link, 0o160000 for a submodule) and object id."""

    path: str
    mode: int
    oid: str

    @property
    def regular_file(self) -> bool:
        return self.mode in (0o100644, 0o100755)

    @property
    def git_mode(self) -> str:
        return f"{self.mode:o}"


class GitCommandError(UserError):
    """A git command failed; the message carries git's own first error line."""


class Repo:
    """A repository at ``root``; close() releases GitPython's persistent processes."""

    def __init__(self, path: Path):
        gitpython = _import_gitpython()
        self._gitpython = gitpython
        try:
            self._repo = gitpython.Repo(path, search_parent_directories=True)
        except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
            raise EnvironmentProblem(
                f"{path} is not inside a git repository: run 'git init' there "
                "and commit your project first"
            ) from None
        if self._repo.bare:
            raise EnvironmentProblem(f"{path} is a bare git repository: use a working clone")
        self.root = Path(self._repo.working_tree_dir)
        # GitPython reads objects through long-lived git processes that one thread at a
        # time may use (parallel workers share this Repo).
        self._objects = threading.RLock()
        self._worktrees = threading.Lock()
        self._identity_args: list[str] | None = None
        self._files: dict[tuple[str, str], bytes | None] = {}

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- low level ---------------------------------------------------------
    def run(self, *args: str, strip: bool = True) -> str:
        """Run ``git ARGS`` in the root; raise GitCommandError with git's message on failure."""
        try:
            return self._repo.git.execute(
                ["git", *self._identity(), *self._no_hooks(args), *args],
                strip_newline_in_stdout=strip)
        except self._gitpython.GitCommandError as exc:
            raise GitCommandError(f"git {args[0]} failed: {_first_error_line(exc)}") from None

    @staticmethod
    def _no_hooks(args: tuple[str, ...]) -> tuple[str, ...]:
        """:data:`NO_HOOKS`, but for ``git config``, which would read its value back."""
        return () if args[:1] == ("config",) else NO_HOOKS

    def _identity(self) -> list[str]:
        if self._identity_args is None:
            reader = self._repo.config_reader()
            has_name = reader.has_option("user", "name")
            has_email = reader.has_option("user", "email")
            name, email = FALLBACK_IDENTITY
            self._identity_args = [] if (has_name and has_email) else [
                "-c", f"user.name={name}", "-c", f"user.email={email}"
            ]
        return self._identity_args

    # -- queries -----------------------------------------------------------
    def version(self) -> tuple[int, ...]:
        return tuple(self._repo.git.version_info[:2])

    def head_sha(self) -> str | None:
        """The full sha of HEAD, or None in a repository with no commits."""
        with self._objects:
            try:
                return self._repo.head.commit.hexsha
            except ValueError:
                return None

    def current_branch(self) -> str | None:
        """The checked-out branch name, or None when HEAD is detached."""
        if self._repo.head.is_detached:
            return None
        return self._repo.head.ref.name

    def branch_exists(self, name: str) -> bool:
        return name in {head.name for head in self._repo.heads}

    def resolve(self, rev: str) -> str:
        """The full sha of ``rev``; an error naming it when it does not exist."""
        try:
            with self._objects:
                return self._repo.rev_parse(rev).hexsha
        except (self._gitpython.BadName, ValueError):
            raise UserError(f"unknown commit '{rev}': give a sha, branch or tag") from None

    def status(self, *, untracked: bool = True) -> list[Change]:
        """Every change in the work tree: tracked, staged, deleted and (unless ``untracked``
        is False) untracked files that are not ignored."""
        out = self.run("status", "--porcelain=v1", "-z",
                       f"--untracked-files={'all' if untracked else 'no'}", strip=False)
        changes: list[Change] = []
        entries = iter(out.split("\0"))
        for entry in entries:
            if not entry:
                continue
            code, path = entry[:2], entry[3:]
            changes.append(Change(code, path))
            if code[0] == "R":  # a staged rename also removed its source (the next entry)
                changes.append(Change("D ", next(entries, "")))
            elif code[0] == "C":
                next(entries, None)
        return changes

    def dirty_tracked(self) -> list[str]:
        """Tracked files with changes (staged or not), without listing untracked ones."""
        return [c.path for c in self.status(untracked=False)]

    def file_at(self, rev: str, path: str) -> bytes | None:
        """Content of ``path`` at ``rev``, or None when it does not exist there."""
        key = (rev, path)
        with self._objects:
            if key in self._files:
                return self._files[key]
            try:
                content = (self._repo.commit(rev).tree / path).data_stream.read()
            except KeyError:
                content = None
            if _FULL_SHA.fullmatch(rev) and len(content or b"") <= FILE_CACHE_MAX_BYTES:
                if len(self._files) >= FILE_CACHE_ENTRIES:
                    del self._files[next(iter(self._files))]
                self._files[key] = content
            return content

    def tree_entries(self, rev: str, path: str = "") -> list[TreeEntry]:
        """Every entry below ``path`` ("" = the root) in ``rev``'s tree, recursively, in
        git's order (read in this process through the persistent cat-file).

        Paths are relative to ``path``; a submodule is one entry of mode 160000.
        """
        with self._objects:
            try:
                top = git_objects.subtree(self._read_object, self._root_tree(rev), path)
            except (KeyError, StopIteration, ValueError):
                raise GitCommandError(f"git ls-tree failed: {rev}:{path} is not a tree") \
                    from None
            return [TreeEntry(name, mode, oid)
                    for name, mode, oid in git_objects.walk(self._read_object, top)]

    def _read_object(self, binsha: bytes) -> bytes:
        return self._repo.odb.stream(binsha).read()

    def _write_object(self, kind: bytes, data: bytes) -> bytes:
        from gitdb import IStream

        return self._repo.odb.store(IStream(kind, len(data), io.BytesIO(data))).binsha

    def _root_tree(self, rev: str) -> bytes:
        try:
            return self._repo.commit(rev).tree.binsha
        except (self._gitpython.BadName, ValueError) as exc:
            raise GitCommandError(f"git ls-tree failed: {rev} is not a commit ({exc})") \
                from None

    def blob(self, oid: str) -> bytes:
        """The content of blob ``oid`` (through git's persistent cat-file process)."""
        with self._objects:
            return self._repo.odb.stream(bytes.fromhex(oid)).read()

    def patches(self, shas: list[str]) -> dict[str, str]:
        """Each commit's patch against its first parent (a root commit's whole tree), by full
        sha, in one git call. Commits the repository no longer has (a discarded candidate
        after ``git gc``) and anything that is not a full sha are left out."""
        wanted = [sha for sha in shas if _FULL_SHA.fullmatch(sha)]
        if not wanted:
            return {}
        out = self.run("log", "--no-walk=unsorted", "--ignore-missing", "--no-color",
                       "--no-ext-diff", "--no-textconv", "--format=%x00%H", "--patch",
                       *wanted, "--", strip=False)
        patches = {}
        for chunk in out.split("\0")[1:]:
            sha, _, patch = chunk.partition("\n")
            patches[sha] = patch.lstrip("\n")
        return patches

    def commit_message(self, rev: str) -> str:
        with self._objects:
            return self._repo.commit(rev).message

    def git_dir(self) -> Path:
        return Path(self._repo.git_dir)

    def common_dir(self) -> Path:
        return Path(self._repo.common_dir)

    def hooks_dir(self) -> Path:
        configured = self.run("config", "--get", "core.hooksPath") if self._has_config(
            "core.hooksPath") else ""
        if configured:
            path = Path(configured).expanduser()
            return path if path.is_absolute() else self.root / path
        return self.common_dir() / "hooks"

    def _has_config(self, key: str) -> bool:
        try:
            self._repo.git.execute(["git", "config", "--get", key])
            return True
        except self._gitpython.GitCommandError:
            return False

    # -- changes -----------------------------------------------------------
    def create_branch(self, name: str, start: str = "HEAD") -> None:
        self.run("branch", "--", name, start)

    def add_excludes(self, patterns: list[str]) -> list[str]:
        """Append missing patterns to .git/info/exclude; return the ones added."""
        exclude = self.common_dir() / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        present = exclude.read_text().splitlines() if exclude.exists() else []
        missing = [p for p in patterns if p not in present]
        if missing:
            prefix = "" if not present or exclude.read_text().endswith("\n") else "\n"
            with exclude.open("a") as handle:
                handle.write(prefix + "".join(f"{p}\n" for p in missing))
        return missing

    def commit_tree(self, tree_of: str, parent: str, message: str) -> str:
        """A new commit whose tree is ``tree_of``'s and whose only parent is ``parent``."""
        return self.run("commit-tree", f"{tree_of}^{{tree}}", "-p", parent, "-m", message)

    def set_branch(self, name: str, sha: str) -> None:
        self.run("branch", "--force", "--", name, sha)

    # -- plumbing: commits made without a work tree, index or hooks --------------------------
    def _plumb(self, *args: str, input: bytes | None = None,
               env: dict[str, str] | None = None) -> str:
        """Run a git plumbing command with bytes on stdin; its stdout, stripped."""
        done = subprocess.run(["git", *self._identity(), *NO_HOOKS, *args], cwd=self.root,
                              input=input, capture_output=True,
                              env={**os.environ, **(env or {})}, check=False)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitCommandError(f"git {args[0]} failed: "
                                  f"{message[0] if message else f'exit code {done.returncode}'}")
        return done.stdout.decode(errors="replace").strip()

    def entry(self, rev: str, path: str) -> TreeEntry | None:
        """What ``path`` is in ``rev``'s tree (None when absent)."""
        out = self._plumb("ls-tree", "-z", "--full-tree", rev, "--", path)
        for record in out.split("\0"):
            meta, _, name = record.partition("\t")
            if name == path:
                mode, _, sha = meta.split()
                return TreeEntry(name, int(mode, 8), sha)
        return None

    def tracked(self, rev: str, under: str = "") -> set[str]:
        """Every file path in ``rev``'s tree (below ``under``, relative to it)."""
        args = ["ls-tree", "-r", "-z", "--name-only", "--full-tree", rev]
        if under:
            args += ["--", under]
        out = self._plumb(*args)
        prefix = f"{under}/" if under else ""
        return {p[len(prefix):] for p in out.split("\0") if p}

    def write_blob(self, data: bytes) -> str:
        return self._plumb("hash-object", "-w", "--stdin", input=data)

    def tree_with(self, base: str, files: dict[str, tuple[str, bytes]]) -> str:
        """The tree of ``base`` with ``files`` (path -> (mode, content)) replaced; its sha.

        Objects are written in this process (git_objects) when every path is a file of
        ``base``; otherwise through a temporary index. The user's index and work tree are
        never touched.
        """
        with self._objects:
            try:
                blobs = {path: (mode.encode(), self._write_object(b"blob", content))
                         for path, (mode, content) in files.items()}
                return git_objects.replaced(
                    self._read_object, lambda data: self._write_object(b"tree", data),
                    self._root_tree(base), blobs).hex()
            except (KeyError, StopIteration):
                pass
        with tempfile.TemporaryDirectory(prefix="autoresearch-index-") as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._plumb("read-tree", base, env=env)
            for path, (mode, content) in files.items():
                blob = self.write_blob(content)
                self._plumb("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}",
                            env=env)
            return self._plumb("write-tree", env=env)

    def commit_with(self, base: str, files: dict[str, tuple[str, bytes]], message: str) -> str:
        """A new commit on ``base`` whose tree differs from it only in ``files``; no hook runs."""
        tree = self.tree_with(base, files)
        return self._plumb("commit-tree", tree, "-p", base, "-F", "-", input=message.encode())

    def same_tree(self, a: str, b: str) -> bool:
        return self.resolve(f"{a}^{{tree}}") == self.resolve(f"{b}^{{tree}}")

    def changed_paths(self, a: str, b: str) -> list[str]:
        """Paths whose content or mode differs between two commits."""
        out = self._plumb("diff-tree", "-r", "-z", "--no-renames", "--name-only", a, b)
        return [p for p in out.split("\0") if p]

    def merge_text(self, ours: bytes, base: bytes, theirs: bytes) -> bytes:
        """Three-way merge of one file's content; conflicting hunks take ``theirs``."""
        return _merge_file(ours, base, theirs, "--theirs")[1]

    def merge_clean(self, ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
        """Three-way merge of one file's content, or None when any hunk conflicts."""
        conflicts, merged = _merge_file(ours, base, theirs)
        return None if conflicts else merged

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, descendant],
                              cwd=self.root, capture_output=True, check=False)
        return done.returncode == 0

    def ref_sha(self, ref: str) -> str | None:
        """The sha a ref points at, or None when it does not exist (read in this process
        from the ref files; through git when they cannot be read, e.g. a reftable)."""
        if ref.startswith("refs/") and not (self.common_dir() / "reftable").exists():
            try:
                return self._gitpython.Reference(self._repo, ref).commit.hexsha
            except ValueError:
                return None  # no such ref
            except Exception:  # noqa: BLE001 - any other trouble: ask git itself
                pass
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                              cwd=self.root, capture_output=True, text=True, check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def update_ref(self, ref: str, new: str, old: str | None, message: str) -> bool:
        """Move ``ref`` to ``new`` only if it still points at ``old`` (None: must not exist);
        False when someone moved it meanwhile."""
        expected = old if old is not None else "0" * 40
        done = subprocess.run(["git", *NO_HOOKS, "update-ref", "-m", message, ref, new, expected],
                              cwd=self.root, capture_output=True, check=False)
        return done.returncode == 0

    def delete_ref(self, ref: str) -> None:
        subprocess.run(["git", *NO_HOOKS, "update-ref", "-d", ref], cwd=self.root,
                       capture_output=True, check=False)

    def refs(self, prefix: str) -> dict[str, str]:
        """Every ref under ``prefix`` and the sha it points at."""
        out = self._plumb("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def checked_out(self) -> dict[str, Path]:
        """Each branch checked out in some work tree, and that tree's path."""
        out = self.run("worktree", "list", "--porcelain")
        found: dict[str, Path] = {}
        path = None
        for line in out.splitlines():
            if line.startswith("worktree "):
                path = Path(line[len("worktree "):])
            elif line.startswith("branch refs/heads/") and path is not None:
                found[line[len("branch refs/heads/"):]] = path
        return found

    # -- worktrees (parallel workers) ----------------------------------------
    def worktree_add(self, path: Path, rev: str) -> None:
        """A detached work tree at ``path`` with ``rev`` checked out (objects shared)."""
        with self._worktrees:  # git's worktree bookkeeping takes one change at a time
            self.run("worktree", "add", "--force", "--detach", str(path), rev)

    def worktree_remove(self, path: Path) -> None:
        """Remove the work tree at ``path``, with its changes (twice --force: even locked)."""
        with self._worktrees:
            self.run("worktree", "remove", "--force", "--force", str(path))

    def worktree_list(self) -> list[Path]:
        """Every work tree of the repository, the main one first."""
        out = self.run("worktree", "list", "--porcelain")
        return [Path(line[len("worktree "):]) for line in out.splitlines()
                if line.startswith("worktree ")]

    def worktree_prune(self) -> None:
        """Forget work trees whose directory is gone."""
        with self._worktrees:
            self.run("worktree", "prune")


def _merge_file(ours: bytes, base: bytes, theirs: bytes, *options: str) -> tuple[int, bytes]:
    """``git merge-file -p`` of three contents: (conflicting hunks, merged content)."""
    with tempfile.TemporaryDirectory(prefix="autoresearch-merge-") as scratch:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch) / name
            path.write_bytes(content)
            paths.append(str(path))
        done = subprocess.run(["git", "merge-file", "-p", *options, *paths],
                              capture_output=True, check=False)
        if done.returncode < 0 or done.returncode > 127:
            raise GitCommandError(f"git merge-file failed: {done.stderr.decode().strip()}")
        return done.returncode, done.stdout




def _first_error_line(exc) -> str:
    text = (exc.stderr or exc.stdout or str(exc)).strip()
    for line in text.splitlines():
        line = line.strip().strip("'").strip()
        if line.startswith("stderr:"):
            line = line[len("stderr:"):].strip().strip("'")
        if line:
            return line
    return f"exit code {exc.status}"


def init_repo(path: Path, message: str) -> Repo:
    """``git init`` a directory and commit everything in it; return the open repository."""
    gitpython = _import_gitpython()
    gitpython.Repo.init(path)
    repo = Repo(path)
    repo.run("add", "--all")
    repo.run("commit", "--quiet", "--message", message)
    return repo


def open_repo(path: Path) -> Repo:
    """Open the repository containing ``path`` and check git is new enough."""
    repo = Repo(path)
    if repo.version() < MIN_GIT_VERSION:
        found = ".".join(map(str, repo.version()))
        need = ".".join(map(str, MIN_GIT_VERSION))
        repo.close()
        raise EnvironmentProblem(f"git {found} is too old: autoresearch needs git {need} or newer")
    return repo


# The fresh repository of a sandbox copy: none of the user's or the system's git config
# (hooks, templates, filters, signing) applies to it.
PRIVATE_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
               "GIT_AUTHOR_NAME": FALLBACK_IDENTITY[0], "GIT_AUTHOR_EMAIL": FALLBACK_IDENTITY[1],
               "GIT_COMMITTER_NAME": FALLBACK_IDENTITY[0],
               "GIT_COMMITTER_EMAIL": FALLBACK_IDENTITY[1],
               "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
               "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


def init_private(path: Path, message: str) -> None:
    """Make ``path`` a repository of its own with one commit of everything in it.

    No template (so no hooks), no user or system config, a pinned identity and date, and
    none of the caller's GIT_* variables (GIT_DIR would point git at another repository).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | PRIVATE_ENV
    for args in (["init", "--quiet", "--template=", "."],
                 ["add", "--all"],
                 ["-c", "core.hooksPath=" + os.devnull, "commit", "--quiet", "--no-verify",
                  "--allow-empty", "--message", message]):
        done = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=path,
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            error = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
            raise GitCommandError(f"git {args[0]} failed in {path}: {error[0]}")


def tracked_files(directory: Path) -> frozenset[str] | None:
    """The files git tracks under ``directory``, as paths relative to it (its index, so a
    file added but not yet committed counts); None when ``directory`` is in no repository
    or git is not installed."""
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "-C", str(directory), "ls-files", "-z", "--cached"],
                          capture_output=True, check=False)
    if done.returncode != 0:
        return None
    return frozenset(path for path in os.fsdecode(done.stdout).split("\0") if path)
