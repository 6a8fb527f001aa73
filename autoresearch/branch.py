"""The experiment branch and the tool's own record of the best commit.

``refs/autoresearch/<tag>/best`` is the best commit the tool measured and kept; it only ever
moves by a compare-and-swap (``git update-ref NEW OLD``) to a commit the tool itself kept.
The branch ``autoresearch/<tag>`` follows it when that is safe:

- not checked out anywhere: the ref is moved (compare-and-swap again);
- checked out in a working tree (the user's, following along): only by a fast-forward of that
  tree, and only while it has no modified tracked files; otherwise it waits (one warning) and
  catches up once the tree is clean.

A commit the user adds on top of the branch is noticed (:meth:`Branch.added_by_user`) and
continued from; a branch moved elsewhere stops the loop with the way back.
"""

from __future__ import annotations

from collections.abc import Callable

from autoresearch.errors import EnvironmentProblem
from autoresearch.git import GitCommandError, Repo, open_repo

PREFIX = "autoresearch/"


def branch_for(tag: str) -> str:
    return f"{PREFIX}{tag}"


def best_ref(tag: str) -> str:
    return f"refs/autoresearch/{tag}/best"


class Branch:
    def __init__(self, repo: Repo, tag: str, warn: Callable[[str], None]):
        self.repo = repo
        self.tag = tag
        self.name = branch_for(tag)
        self.ref = f"refs/heads/{self.name}"
        self.best_ref = best_ref(tag)
        self.warn = warn
        self._waiting = False  # the warning about a dirty tree was given

    def tip(self) -> str | None:
        return self.repo.ref_sha(self.ref)

    def best(self) -> str | None:
        return self.repo.ref_sha(self.best_ref)

    def record_best(self, new: str, old: str | None) -> None:
        """Move the best ref to ``new`` from ``old`` (compare-and-swap), then the branch."""
        current = self.best()
        if current != old and current != new:
            raise EnvironmentProblem(
                f"{self.best_ref} moved to {current[:7] if current else 'nothing'} while the "
                f"loop expected {old[:7] if old else 'nothing'}: another process is changing "
                "it; stop it and run loop again")
        if current != new and not self.repo.update_ref(self.best_ref, new, old,
                                                        f"autoresearch: keep {new[:7]}"):
            raise EnvironmentProblem(f"could not move {self.best_ref} to {new[:7]}: it was "
                                     "changed meanwhile; run loop again")
        self.follow()

    def rewind(self, new: str, old: str) -> None:
        """Move the best (and the branch, when it is safe) back to ``new``, an ancestor of
        ``old`` (a holdout that regressed undoes the keeps it had not checked)."""
        if not self.repo.update_ref(self.best_ref, new, old, f"autoresearch: back to {new[:7]}"):
            raise EnvironmentProblem(f"could not move {self.best_ref} back to {new[:7]}: it was "
                                     "changed meanwhile; run loop again")
        tree = self.repo.checked_out().get(self.name)
        if tree is None and self.tip() == old:
            self.repo.update_ref(self.ref, new, old, f"autoresearch: back to {new[:7]}")
        elif self.tip() == old:
            self.warn(f"{self.name} is checked out in {tree}: it stays at {old[:7]}; the best is "
                      f"back at {new[:7]} ({self.best_ref}): 'git reset --keep {new[:7]}' there "
                      "follows it")

    def restore_best(self, logged: str) -> None:
        """The best ref back at the ledger's best ``logged``: a kill between a keep and its
        record leaves the ref (and the branch, which followed it) on a commit the ledger never
        logged. That commit is pending and recovery logs it, or moves it onto a newer best; the
        branch goes back with the ref (compare-and-swap) unless a tree has it checked out, so
        it is never stranded on a commit the ledger does not keep."""
        current = self.best()
        if current == logged:
            return
        self.repo.update_ref(self.best_ref, logged, current, "autoresearch: best from the ledger")
        if current is not None and self.tip() == current \
                and self.name not in self.repo.checked_out():
            self.repo.update_ref(self.ref, logged, current, "autoresearch: best from the ledger")

    def added_by_user(self, best: str) -> str | None:
        """The branch tip when the user committed on top of the best, else None.

        A branch that no longer contains the best (reset or rewritten by hand) is an error
        that names both commits and how to continue.
        """
        tip = self.tip()
        if tip is None or tip == best or self.repo.is_ancestor(tip, best):
            return None  # at the best, or behind it (follow() catches up)
        if self.repo.is_ancestor(best, tip):
            return tip
        raise EnvironmentProblem(
            f"branch {self.name} was moved to {tip[:7]}, which does not contain the best "
            f"commit {best[:7]}; the loop's progress is kept in {self.best_ref}: to continue it "
            f"run 'git branch -f {self.name} {best[:7]}', or start a new tag")

    def follow(self) -> None:
        """Bring the branch to the best when it is safe (see the module docstring)."""
        best, tip = self.best(), self.tip()
        if best is None or tip == best:
            return
        if tip is not None and not self.repo.is_ancestor(tip, best):
            return  # the user moved it: added_by_user() deals with that
        tree = self.repo.checked_out().get(self.name)
        if tree is None:
            self.repo.update_ref(self.ref, best, tip, f"autoresearch: keep {best[:7]}")
            return
        with open_repo(tree) as checkout:
            modified = checkout.dirty_tracked()
            if not modified:
                try:
                    checkout.run("merge", "--ff-only", "--quiet", best)
                    self._waiting = False
                    return
                except GitCommandError as exc:
                    reason = str(exc)
            else:
                reason = f"it has uncommitted changes ({', '.join(modified[:3])})"
        if not self._waiting:
            self._waiting = True
            self.warn(f"{self.name} is checked out in {tree} and {reason}: the branch waits "
                      f"and catches up once that tree is clean; the best so far is "
                      f"{self.best_ref} ({best[:7]})")
