"""autoresearch.cluster.transcript and wrapper.py: the wrapped command run for real by this
machine's python3, its output split into the run log and the trailer in chunks of any size,
and the fetched files unpacked (or refused) into the tree."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from autoresearch.cluster.transcript import Trailer, Transcript, new_token, unpack, wrapped

OUTPUT = "line one\nerr line\nno newline at the end"
COMMAND = ("printf 'line one\\n'; printf 'err line\\n' >&2; mkdir -p out/deep; "
           "echo '{\"score\": 4}' > out/metric.json; echo x > out/deep/.hidden; "
           "printf 'no newline at the end'; exit 3")


def run_wrapped(tree: Path, command: str, fetch=()) -> tuple[str, bytes]:
    token = new_token()
    done = subprocess.run(wrapped(token, command, fetch), shell=True, cwd=tree,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert done.returncode == (3 if "exit 3" in command else 0)
    return token, done.stdout


def transcribe(tmp_path: Path, token: str, chunks, drop: bytes | None = None):
    log = tmp_path / "run.log"
    transcript = Transcript(token, log, 1024 * 1024, drop=drop)
    for chunk in chunks:
        transcript.feed(chunk)
    trailer = transcript.finish()
    transcript.log.close()
    return log.read_text(), trailer


def test_the_log_holds_exactly_the_commands_output_and_the_trailer_the_rest(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    token, output = run_wrapped(tree, COMMAND, fetch=["out/**"])
    whole, trailer = transcribe(tmp_path, token, [b"scheduler preamble\n" + output])
    assert whole == OUTPUT
    assert (trailer.exit_code, trailer.node) == (3, subprocess.getoutput("hostname"))
    assert trailer.duration_s > 0
    # Byte by byte, the same: markers split across chunks are still found.
    split, _ = transcribe(tmp_path, token, [output[i:i + 1] for i in range(len(output))])
    assert split == OUTPUT


def test_output_reaches_the_log_as_it_arrives(tmp_path):
    token = new_token()
    log = tmp_path / "run.log"
    transcript = Transcript(token, log, 1024, drop=b"Running entrypoint for job j1: ")
    transcript.feed(f"@@autoresearch-{token} start node1\nfirst line\n".encode())
    assert log.read_text() == "first line\n"
    transcript.feed(b"almost a marker: @@auto")  # could be the trailer's start: held back
    assert log.read_text() == "first line\n" + "almost a marker: "
    transcript.feed(b"research is fun\nRunning entry")
    assert log.read_text() == "first line\nalmost a marker: @@autoresearch is fun\n"
    transcript.feed(b"point for job j1: python3 -c x\nlast\n")
    assert log.read_text() == "first line\nalmost a marker: @@autoresearch is fun\nlast\n"
    assert transcript.node == "node1" and not transcript.complete
    transcript.feed(f"@@autoresearch-{token} end 4 1.5".encode())
    assert not transcript.complete  # the line is not whole yet
    transcript.feed(b"\n")
    assert transcript.complete
    assert transcript.finish() == Trailer("node1", 4, 1.5, None)
    assert log.read_text() == "first line\nalmost a marker: @@autoresearch is fun\nlast\n"


def test_fetched_files_come_back_hidden_ones_included(tmp_path):
    tree, back = tmp_path / "tree", tmp_path / "back"
    tree.mkdir()
    back.mkdir()
    token, output = run_wrapped(tree, COMMAND, fetch=["out/metric.json", "out/deep/**", "none*"])
    _, trailer = transcribe(tmp_path, token, [output])
    assert unpack(trailer.payload, back) is None
    assert (back / "out/metric.json").read_text() == '{"score": 4}\n'
    assert (back / "out/deep/.hidden").read_text() == "x\n"


def test_the_line_the_scheduler_writes_into_the_output_is_dropped_wherever_it_lands(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    token, output = run_wrapped(tree, "echo a; echo b")
    drop = b"Running entrypoint for job j1: "
    at = output.index(b"a\n") + 2  # between the command's two lines, as Ray may write it
    stream = output[:at] + drop + b"python3 -c ...\n" + output[at:]
    log, trailer = transcribe(tmp_path, token, [stream[i:i + 7] for i in range(0, len(stream), 7)],
                              drop=drop)
    assert (log, trailer.exit_code) == ("a\nb\n", 0)


def test_a_job_that_never_ran_the_command_shows_its_preamble(tmp_path):
    log, trailer = transcribe(tmp_path, new_token(), [b"runtime env setup failed: no pip\n"])
    assert log == "runtime env setup failed: no pip\n"
    assert (trailer.exit_code, trailer.duration_s, trailer.payload) == (None, None, None)


def test_a_fetch_over_the_limit_is_refused_on_the_node_with_a_line_in_the_log(tmp_path,
                                                                            monkeypatch):
    from autoresearch.cluster import transcript

    monkeypatch.setattr(transcript, "FETCH_MAX_BYTES", 10)
    tree = tmp_path / "tree"
    tree.mkdir()
    token, output = run_wrapped(tree, "echo hi; echo data > big", fetch=["big"])
    log, trailer = transcribe(tmp_path, token, [output])
    assert trailer.payload is None
    assert log.startswith("hi\n\nautoresearch: the files to fetch (big) are ")
    assert log.endswith("over the limit of 10; nothing was fetched\n")


def tar_of(*members: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x\n") if member.isfile() else None)
    return buffer.getvalue()


def member(name: str, link_to: str | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    if link_to is None:
        info.size = 2
    else:
        info.type, info.linkname = tarfile.SYMTYPE, link_to
    return info


@pytest.mark.parametrize("bad", [member("../escape.txt"), member("out", link_to="/etc")],
                         ids=["dot-dot", "link out"])
def test_members_that_would_land_outside_the_tree_are_refused(tmp_path, bad):
    tree = tmp_path / "tree"
    tree.mkdir()
    problem = unpack(tar_of(bad), tree)
    assert problem.startswith("the fetched files could not be unpacked: ")
    assert not (tmp_path / "escape.txt").exists() and not (tree / "out").exists()


def test_an_absolute_member_lands_inside_the_tree(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    assert unpack(tar_of(member(f"{tmp_path}/abs.txt")), tree) is None
    assert (tree / str(tmp_path).lstrip("/") / "abs.txt").read_text() == "x\n"
    assert not (tmp_path / "abs.txt").exists()
