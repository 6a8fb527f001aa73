"""autoresearch.shell_words: a command line read as the simple commands it runs."""

from __future__ import annotations

import pytest

from autoresearch.shell_words import Command, commands


@pytest.mark.parametrize(("line", "expected"), [
    ("npm run build", [Command(("npm", "run", "build"), ".")]),
    ("cd app && NODE_ENV=production nice -n 5 npm run build > out.log 2>&1",
     [Command(("npm", "run", "build"), "app")]),
    ("timeout 600 ./gradlew build -x test", [Command(("./gradlew", "build", "-x", "test"), ".")]),
    ("env -i FOO=1 node build.js; echo done",
     [Command(("node", "build.js"), "."), Command(("echo", "done"), ".")]),
    ("python train.py | tee log.txt",
     [Command(("python", "train.py"), "."), Command(("tee", "log.txt"), ".")]),
    ("tsc -b && (vite build || true)",
     [Command(("tsc", "-b"), "."), Command(("vite", "build"), "."), Command(("true",), ".")]),
    ("if true; then make; fi", [Command(("true",), "."), Command(("make",), ".")]),
    ("cd a && cd ../b && make  # build it", [Command(("make",), "b")]),
    ("echo 'unterminated", []),
])
def test_commands(line, expected):
    assert commands(line) == expected
