"""Only the target's bytes cross back from the agent's copy; everything else is listed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoresearch.cross_back import IGNORED_LIMIT, blob_id, read_back
from autoresearch.project_copy import committed, make_copy

FILES = {
    "train.py": "VALUE = 1\n",
    "src/model.py": "LAYERS = 2\n",
    "src/helper.py": "def help(): pass\n",
    "prepare.py": "# do not modify\n",
    "notes.md": "notes\n",
}
TARGETS = ("train.py", "src/model.py")


@pytest.fixture
def copy(git_repo: Path, git, tmp_path: Path) -> tuple[Path, dict]:
    for name, text in FILES.items():
        (git_repo / name).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / name).write_text(text)
    os.symlink("notes.md", git_repo / "README.md")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "project")
    return make_copy(git_repo, "HEAD", "", tmp_path / "copy"), committed(git_repo, "HEAD", "")


def test_an_untouched_copy_gives_the_committed_bytes_and_nothing_changed(copy):
    path, listing = copy
    back = read_back(path, TARGETS, listing)
    assert back.contents == {t: FILES[t].encode() for t in TARGETS}
    assert (back.rejections, back.changed, back.ignored, back.ignored_total) == ((), False, (), 0)


def test_an_edited_target_crosses_back_and_every_other_change_is_only_listed(copy):
    path, listing = copy
    (path / "train.py").write_text("VALUE = 2\n")
    (path / "src/helper.py").write_text("def help(): return 'sneaked'\n")
    (path / "prepare.py").unlink()
    (path / "notes.md").chmod(0o755)
    (path / "README.md").unlink()
    os.symlink("/etc/passwd", path / "README.md")
    (path / ".gitignore").write_text("helper2.py\n")
    (path / "helper2.py").write_text("hidden helper\n")
    (path / "node_modules/pkg").mkdir(parents=True)
    (path / "node_modules/pkg/index.js").write_text("x\n")
    (path / "empty").mkdir()
    back = read_back(path, TARGETS, listing)
    assert back.contents == {"train.py": b"VALUE = 2\n", "src/model.py": b"LAYERS = 2\n"}
    assert back.changed and not back.rejected
    assert back.ignored == (".gitignore", "README.md", "empty/", "helper2.py", "node_modules/",
                            "notes.md", "prepare.py", "src/helper.py")


def test_a_long_list_of_ignored_paths_is_cut_and_counted(copy):
    path, listing = copy
    for number in range(IGNORED_LIMIT + 5):
        (path / f"junk{number:04}.txt").write_text("x")
    back = read_back(path, TARGETS, listing)
    assert len(back.ignored) == IGNORED_LIMIT and back.ignored_total == IGNORED_LIMIT + 5
    assert back.ignored[0] == "junk0000.txt"


def test_the_copys_own_repository_is_not_listed_with_git(git_repo, git, tmp_path):
    (git_repo / "train.py").write_text("VALUE = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "project")
    path = make_copy(git_repo, "HEAD", "", tmp_path / "copy", with_git=True)
    listing = committed(git_repo, "HEAD", "")
    assert read_back(path, ["train.py"], listing, with_git=True).ignored == ()
    assert read_back(path, ["train.py"], listing).ignored == (".git/",)


def rejection(path: Path, listing: dict) -> str:
    back = read_back(path, TARGETS, listing)
    assert back.rejected and back.contents == {}
    assert len(back.rejections) == 1
    return back.rejections[0]


def test_a_deleted_target_is_rejected(copy):
    path, listing = copy
    (path / "train.py").unlink()
    assert rejection(path, listing) == "the target file train.py was deleted"


def test_a_target_that_became_a_symlink_is_rejected_even_to_the_same_bytes(copy, tmp_path):
    path, listing = copy
    outside = tmp_path / "outside.py"
    outside.write_text(FILES["train.py"])
    (path / "train.py").unlink()
    os.symlink(outside, path / "train.py")
    assert "the target file train.py became a symbolic link" in rejection(path, listing)


def test_a_target_that_became_a_directory_is_rejected(copy):
    path, listing = copy
    (path / "train.py").unlink()
    (path / "train.py").mkdir()
    assert "the target file train.py became a directory" in rejection(path, listing)


def test_a_target_that_became_a_nested_repository_is_rejected(copy):
    path, listing = copy
    (path / "train.py").unlink()
    (path / "train.py/.git").mkdir(parents=True)
    assert "the target file train.py became a nested repository" in rejection(path, listing)


def test_a_target_inside_a_nested_repository_is_rejected(copy):
    path, listing = copy
    (path / "src/.git").write_text("gitdir: /elsewhere\n")
    assert rejection(path, listing) == ("the target file src/model.py cannot be read: its "
                                        "directory 'src' became a nested repository")


def test_a_target_reached_through_a_linked_directory_is_rejected(copy, tmp_path):
    path, listing = copy
    elsewhere = tmp_path / "elsewhere"
    (path / "src").rename(elsewhere)
    os.symlink(elsewhere, path / "src")
    assert "its directory 'src' became a symbolic link" in rejection(path, listing)


def test_a_target_whose_mode_changed_is_rejected(copy):
    path, listing = copy
    (path / "train.py").chmod(0o755)
    assert "the target file train.py changed mode from 100644 to 100755" in rejection(path, listing)


def test_a_target_that_became_a_fifo_is_rejected_without_blocking(copy):
    path, listing = copy
    (path / "train.py").unlink()
    os.mkfifo(path / "train.py")
    assert "the target file train.py is no longer a regular file" in rejection(path, listing)


def test_a_target_must_be_a_committed_regular_file(copy):
    path, listing = copy
    with pytest.raises(ValueError, match="README.md"):
        read_back(path, ["README.md"], listing)
    with pytest.raises(ValueError, match="absent.py"):
        read_back(path, ["absent.py"], listing)


def test_blob_id_is_gits(copy):
    listing = copy[1]
    assert blob_id(FILES["train.py"].encode()) == listing["train.py"].oid
