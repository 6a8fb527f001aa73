"""autoresearch.emitted and compression: what a run emitted, its sizes, and the entry outputs a
candidate lost. The builds of real bundlers are in test_real_shapes.py."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest
from real_projects import write

from autoresearch import compression, emitted
from autoresearch.errors import EnvironmentProblem


@pytest.mark.parametrize(("path", "expected"), [
    ("dist/assets/index-DEhKyjrE.js", "dist/assets/index.js"),  # Vite, Rolldown
    ("dist/assets/About-Coipwi8N.js", "dist/assets/About.js"),
    ("dist/assets/index-D-x_3Fq2.css", "dist/assets/index.css"),  # base64url with - and _
    ("out/chunk-5FQ2X7ZK.js", "out/chunk.js"),  # esbuild
    ("build/static/js/main.3f2a1b9c.js", "build/static/js/main.js"),  # webpack
    ("build/static/js/787.8a4e3b2f.chunk.js", "build/static/js/787.chunk.js"),
    ("dist/vendor-react-abc12345.js", "dist/vendor-react.js"),
    ("dist/x.min.js", "dist/x.min.js"),  # no hash: unchanged
    ("dist/my-component-helpers.js", "dist/my-component-helpers.js"),
    ("dist/index.html", "dist/index.html"),
    ("dist/polyfills-legacy.js", "dist/polyfills-legacy.js"),
])
def test_content_hashes_are_removed(path, expected):
    assert emitted.without_hash(path) == expected


BEST = ["dist/index.html", "dist/assets/index-AbCd1234.js", "dist/assets/index-Zz9Yy8Xx.css",
        "dist/assets/About-Coipwi8N.js", "dist/x.js", "dist/x.min.js"]
REQUIRED = ["dist/x.js", "dist/x.min.js", "**/*.html", "**/index.*"]


def test_rebuilt_with_new_hashes_nothing_is_missing():
    candidate = ["dist/index.html", "dist/assets/index-Q1w2E3r4.js",
                 "dist/assets/index-P0o9I8u7.css", "dist/assets/About-N3wHash1.js", "dist/x.js",
                 "dist/x.min.js"]
    assert emitted.missing_outputs(BEST, candidate, REQUIRED) == []


def test_dropping_a_lazily_loaded_chunk_is_fine():
    candidate = [p for p in BEST if "About" not in p]
    assert emitted.missing_outputs(BEST, candidate, REQUIRED) == []


def test_a_lost_entry_output_is_named_with_the_best_runs_name():
    candidate = [p for p in BEST if not p.endswith((".min.js", ".css"))]
    missing = emitted.missing_outputs(BEST, candidate, REQUIRED)
    assert missing == ["dist/assets/index-Zz9Yy8Xx.css", "dist/x.min.js"]
    assert emitted.missing_error(missing) == (
        "outputs missing: dist/assets/index-Zz9Yy8Xx.css, dist/x.min.js")
    assert emitted.missing_error(["dist/x.min.js"]) == "output missing: dist/x.min.js"
    assert emitted.missing_error([f"dist/{n}.js" for n in "abcde"]) == (
        "outputs missing: dist/a.js, dist/b.js, dist/c.js and 2 more")
    assert emitted.missing_error([]) is None


def test_an_output_the_best_run_never_had_is_not_required():
    assert emitted.missing_outputs(["dist/x.js"], ["dist/x.js"], REQUIRED) == []


def test_files_under_locations_skip_tool_state(tmp_path):
    write(tmp_path, {"dist/a.js": "a", "dist/sub/b.js": "b", "index.js": "i", "run.log": "log",
                     "dist/node_modules/x.js": "x", ".autoresearch/runs/1.json": "{}",
                     "src/c.js": "c"})
    (tmp_path / "dist" / "link.js").symlink_to(tmp_path / "src" / "c.js")
    found = emitted.files_under(tmp_path, ["dist", "index.js", "build", "*.log", "./dist/"])
    assert found == ["dist/a.js", "dist/sub/b.js", "index.js"]
    assert emitted.files_under(tmp_path, ["dist/**/*.js"]) == ["dist/a.js", "dist/sub/b.js"]


def test_tracked_files_are_never_output_and_excludes_apply_at_any_depth():
    files = ["build/build.js", "index.js", "dist/a.js", "dist/a.js.map", "dist/types/a.d.ts",
             "dist/a.d.mts"]
    counted, excluded = emitted.select(files, {"build/build.js"},
                                       ("*.map", "*.d.ts", "*.d.mts", "*.d.cts"))
    assert counted == ["index.js", "dist/a.js"]
    assert excluded == ["dist/a.js.map", "dist/types/a.d.ts", "dist/a.d.mts"]
    assert emitted.select(files, set(), ("dist/*.map",))[1] == ["dist/a.js.map"]


def test_sizes_are_measured_file_by_file(tmp_path):
    text = b"export const greeting = 'hello';\n" * 50
    write(tmp_path, {"dist/a.js": text.decode(), "dist/b.js": "x"})
    raw = emitted.measure(tmp_path, ["dist/a.js", "dist/b.js"], "none")
    assert [(o.path, o.size, o.raw_size) for o in raw] == [
        ("dist/a.js", len(text), len(text)), ("dist/b.js", 1, 1)]
    zipped = emitted.measure(tmp_path, ["dist/a.js"], "gzip")[0]
    assert zipped.size == len(gzip.compress(text, compresslevel=9, mtime=0)) < len(text)
    assert emitted.Output.from_json(zipped.to_json()) == zipped


def test_gzip_sizes_do_not_depend_on_the_time_or_the_name():
    data = b"function f(){return 1}\n" * 20
    assert compression.compressed_size(data, "gzip") == compression.compressed_size(data, "gzip")
    assert gzip.decompress(gzip.compress(data, 9, mtime=0)) == data


def test_brotli_without_its_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "brotli", None)  # what an uninstalled package looks like
    with pytest.raises(EnvironmentProblem) as caught:
        compression.require("brotli")
    assert caught.value.message == ("size_compression 'brotli' needs the brotli package, which "
                                    "is not installed: pip install 'autoresearch[brotli]'")
    compression.require("gzip")


def test_brotli_when_installed(tmp_path):
    brotli = pytest.importorskip("brotli")
    data = b"const x = 1;\n" * 100
    assert compression.compressed_size(data, "brotli") == len(brotli.compress(data, quality=11))


def test_a_missing_location_is_no_file(tmp_path: Path):
    assert emitted.files_under(tmp_path, ["dist", "build/**"]) == []
