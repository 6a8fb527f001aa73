"""autoresearch.crash_cause: the most telling line of realistic failed-run logs."""

from __future__ import annotations

import pytest

from autoresearch.crash_cause import MAX_CHARS, cause

TORCH_MISSING = """\
Traceback (most recent call last):
  File "/home/ada/nanochat/train.py", line 3, in <module>
    import torch
ModuleNotFoundError: No module named 'torch'
"""

CUDA_OOM = """\
step 00000 | loss 10.9852 | lr 0.0006 | tok/s 0
Traceback (most recent call last):
  File "/home/ada/autoresearch/train.py", line 412, in <module>
    loss = model(x, y)
  File "/usr/lib/python3/site-packages/torch/nn/modules/module.py", line 1751, in _call_impl
    return forward_call(*args, **kwargs)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total \
capacity of 79.19 GiB of which 1.02 GiB is free.
"""

CHAINED = """\
Traceback (most recent call last):
  File "prepare.py", line 20, in load
    data = open(PATH).read()
FileNotFoundError: [Errno 2] No such file or directory: 'data/shard_000.bin'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "train.py", line 9, in <module>
    prepare.load()
RuntimeError: dataset not prepared: run python prepare.py first
wandb: Waiting for W&B process to finish... (failed 1).
"""

FLUTTER_MISSING_DASH = "/bin/sh: 1: flutter: not found\n"
FLUTTER_MISSING_BASH = "bash: line 1: flutter: command not found\n"

GRADLE_WRAPPER_OFFLINE = """\
Downloading https://services.gradle.org/distributions/gradle-8.7-bin.zip

Exception in thread "main" java.net.UnknownHostException: services.gradle.org
\tat java.base/sun.nio.ch.NioSocketImpl.connect(NioSocketImpl.java:567)
\tat java.base/java.net.Socket.connect(Socket.java:751)
\tat org.gradle.wrapper.Download.downloadInternal(Download.java:129)
\tat org.gradle.wrapper.WrapperExecutor.execute(WrapperExecutor.java:29)
"""

GRADLE_DEPENDENCIES_OFFLINE = """\
> Task :app:compileJava FAILED

FAILURE: Build failed with an exception.

* What went wrong:
Execution failed for task ':app:compileJava'.
> Could not resolve all files for configuration ':app:compileClasspath'.
   > Could not resolve com.google.guava:guava:33.0.0-jre.
      > Could not GET 'https://repo.maven.apache.org/maven2/com/google/guava/guava.pom'.
         > repo.maven.apache.org

* Try:
> Run with --stacktrace option to get the stack trace.

BUILD FAILED in 3s
"""

GRADLE_COMPILE = """\
> Task :app:compileJava FAILED
/work/app/src/main/java/org/example/App.java:11: error: ';' expected
        System.out.println(new App().getGreeting())
                                                   ^
/work/app/src/main/java/org/example/App.java:14: error: cannot find symbol
2 errors

FAILURE: Build failed with an exception.

* What went wrong:
Execution failed for task ':app:compileJava'.
> Compilation failed; see the compiler error output for details.

BUILD FAILED in 1s
"""

MAVEN_COMPILE = """\
[INFO] Scanning for projects...
[INFO] --- compiler:3.13.0:compile (default-compile) @ wordcount ---
[ERROR] COMPILATION ERROR :
[INFO] -------------------------------------------------------------
[ERROR] /home/ada/wordcount/src/main/java/com/example/Words.java:[7,43] ';' expected
[INFO] 1 error
[INFO] BUILD FAILURE
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.13.0:compile \
(default-compile) on project wordcount: Compilation failure
[ERROR] /home/ada/wordcount/src/main/java/com/example/Words.java:[7,43] ';' expected
[ERROR] -> [Help 1]
"""

MAVEN_OFFLINE = """\
[INFO] Scanning for projects...
[INFO] BUILD FAILURE
[INFO] ------------------------------------------------------------------------
[ERROR] Plugin org.apache.maven.plugins:maven-resources-plugin:3.3.1 or one of its \
dependencies could not be resolved: Could not transfer artifact \
org.apache.maven.plugins:maven-resources-plugin:pom:3.3.1 from/to central \
(https://repo.maven.apache.org/maven2): repo.maven.apache.org: Name or service not known -> [Help 1]
[ERROR]
[ERROR] Re-run Maven using the -X switch to enable full debug logging.
"""

MAVEN_TESTS = """\
[INFO] BUILD FAILURE
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.2.5:test \
(default-test) on project wordcount: There are test failures.
[ERROR] -> [Help 1]
"""

TYPESCRIPT = """\

> vite-react-app@0.0.0 build
> tsc -b && vite build

src/App.tsx(3,8): error TS6133: 'heroImg' is declared but its value is never read.
src/App.tsx(9,3): error TS2304: Cannot find name 'useEffekt'.
"""

TYPESCRIPT_PRETTY = """\
\x1b[96msrc/App.tsx\x1b[0m:\x1b[93m3\x1b[0m:\x1b[93m8\x1b[0m - \x1b[91merror\x1b[0m\
\x1b[90m TS6133: \x1b[0m'heroImg' is declared but its value is never read.

3 import heroImg from './assets/hero.png'
         ~~~~~~~

Found 1 error.
"""

NPM_MISSING_SCRIPT = """\
npm error Missing script: "build"
npm error
npm error To see a list of scripts, run:
npm error   npm run
npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log
"""

NPM_OFFLINE = """\
npm ERR! code ENOTFOUND
npm ERR! syscall getaddrinfo
npm ERR! errno ENOTFOUND
npm ERR! network request to https://registry.npmjs.org/vite failed, reason: getaddrinfo \
ENOTFOUND registry.npmjs.org
npm ERR! A complete log of this run can be found in: /root/.npm/_logs/y-debug-0.log
"""

ESBUILD = """\
\x1b[31m✘ [ERROR]\x1b[0m Expected ";" but found "greeting"

    src/index.js:3:10:
      3 │   return 'hi' greeting
        │           ^

1 error
"""

VITE_UNRESOLVED = """\
vite v8.4.0 building client environment for production...
transforming...
✓ 5 modules transformed.
✗ Build failed in 130ms
error during build:
Build failed with 1 error:

[UNRESOLVED_IMPORT] Could not resolve './nope' in src/App.tsx
   ╭─[ src/App.tsx:1:15 ]
    at aggregateBindingErrorsIntoJsError (file:///app/node_modules/rolldown/dist/error.mjs:110:18)
"""

OOM_KILLED = """\
loading shards: 100%|██████████| 64/64
step 1 | loss 8.1
bash: line 1: 48213 Killed                  python train.py
"""

NODE_HEAP = """\
<--- Last few GCs --->
[4821:0x6a1e000]    51230 ms: Mark-Compact 4046.7 (4138.0) -> 4031.2 (4139.7) MB
FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory
 1: 0xb8ced0 node::Abort() [node]
Aborted (core dumped)
"""

KOTLIN = """\
> Task :app:compileKotlin FAILED
e: file:///work/app/src/main/kotlin/Main.kt:4:5 Unresolved reference 'printn'.
"""

DART = """\
Running Gradle task 'assembleRelease'...
lib/main.dart:14:7: Error: The method 'setStat' isn't defined for the class '_CounterState'.
Target kernel_snapshot_program failed: Exception
"""

PERMISSION = "/bin/sh: 1: ./gradlew: Permission denied\n"

PLAIN = """\
epoch 1 accuracy 0.51
epoch 2 accuracy 0.49
FAIL: CONTEXT must be an integer in 0..16
"""

PROGRESS_ONLY = "training...\r 10%\r 50%\r100%\nwriting checkpoint\n=====\n"


@pytest.mark.parametrize(("log", "expected"), [
    (TORCH_MISSING, "ModuleNotFoundError: No module named 'torch'"),
    (CUDA_OOM, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 "
               "has a total capacity of 79.19 GiB of which 1.02 GiB is free."),
    (CHAINED, "RuntimeError: dataset not prepared: run python prepare.py first"),
    (FLUTTER_MISSING_DASH, "flutter: not found"),
    (FLUTTER_MISSING_BASH, "flutter: command not found"),
    (GRADLE_WRAPPER_OFFLINE, "UnknownHostException: services.gradle.org"),
    (GRADLE_DEPENDENCIES_OFFLINE, "Execution failed for task ':app:compileJava'. "
                                  "(repo.maven.apache.org)"),
    (GRADLE_COMPILE, "/work/app/src/main/java/org/example/App.java:11: error: ';' expected"),
    (MAVEN_COMPILE, "Words.java:7:43: ';' expected"),
    (MAVEN_OFFLINE, "repo.maven.apache.org: Name or service not known"),
    (MAVEN_TESTS, "There are test failures."),
    (TYPESCRIPT, "TS6133 'heroImg' is declared but its value is never read. (src/App.tsx(3,8))"),
    (TYPESCRIPT_PRETTY, "TS6133 'heroImg' is declared but its value is never read. "
                        "(src/App.tsx:3:8)"),
    (NPM_MISSING_SCRIPT, 'npm error Missing script: "build"'),
    (NPM_OFFLINE, "getaddrinfo ENOTFOUND registry.npmjs.org"),
    (ESBUILD, 'Expected ";" but found "greeting" (src/index.js:3:10)'),
    (VITE_UNRESOLVED, "[UNRESOLVED_IMPORT] Could not resolve './nope' in src/App.tsx"),
    (OOM_KILLED, "Killed (out of memory?)"),
    (NODE_HEAP, "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of "
                "memory"),
    (KOTLIN, "e: file:///work/app/src/main/kotlin/Main.kt:4:5 Unresolved reference 'printn'."),
    (DART, "lib/main.dart:14:7: Error: The method 'setStat' isn't defined for the class "
           "'_CounterState'."),
    (PERMISSION, "./gradlew: Permission denied (not executable)"),
    (PLAIN, "FAIL: CONTEXT must be an integer in 0..16"),
    (PROGRESS_ONLY, "writing checkpoint"),
], ids=["torch-missing", "cuda-oom", "chained", "flutter-dash", "flutter-bash",
        "gradle-wrapper-offline", "gradle-deps-offline", "gradle-compile", "maven-compile",
        "maven-offline", "maven-tests", "tsc", "tsc-pretty", "npm-missing-script",
        "npm-offline", "esbuild", "vite", "oom-killed", "node-heap", "kotlin", "dart",
        "permission", "plain", "progress"])
def test_the_most_telling_line(log, expected):
    assert cause(log) == expected


@pytest.mark.parametrize("log", ["", "\n\n", "=====\n-----\n", "[... autoresearch: 12 bytes "
                                                                 "omitted ...]\n"])
def test_nothing_telling_is_none(log):
    assert cause(log) is None


def test_a_long_line_is_cut_to_one_short_line():
    found = cause("Traceback (most recent call last):\nValueError: " + "x" * 5000 + "\n")
    assert found.startswith("ValueError: xxx") and len(found) == MAX_CHARS
    assert found.endswith("…") and "\n" not in found


def test_a_traceback_wins_over_an_earlier_error_word():
    log = "warning: error: deprecated flag\n" + TORCH_MISSING
    assert cause(log) == "ModuleNotFoundError: No module named 'torch'"
