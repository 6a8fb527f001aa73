"""Each agent call gets a copy of its CLI's state; only a refreshed credential goes back."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from autoresearch import agents
from autoresearch.agent_home import STATE, prepare, write_back

OLD_TOKEN = '{"claudeAiOauth": {"accessToken": "old"}}\n'
NEW_TOKEN = '{"claudeAiOauth": {"accessToken": "refreshed"}}\n'


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A user's home with a logged-in claude: settings, credentials, transcripts."""
    home = tmp_path / "home"
    write(home / ".claude/settings.json", '{"model": "sonnet"}\n')
    write(home / ".claude/.credentials.json", OLD_TOKEN, 0o600)
    write(home / ".claude/projects/-work/session.jsonl", "{}\n")
    write(home / ".claude/plugins/p/plugin.json", "{}\n")
    write(home / ".claude.json", '{"numStartups": 3}\n')
    return home


def environ(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), **extra}


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_claude_gets_a_copy_of_its_state_without_transcripts(home, tmp_path):
    call = prepare("claude", tmp_path / "call", environ(home))
    copy = Path(call.env["CLAUDE_CONFIG_DIR"])
    assert copy == tmp_path / "call/claude"
    assert snapshot(copy) == {
        ".claude.json": b'{"numStartups": 3}\n',
        ".credentials.json": OLD_TOKEN.encode(),
        "plugins/p/plugin.json": b"{}\n",
        "settings.json": b'{"model": "sonnet"}\n',
    }
    assert stat.S_IMODE(os.stat(copy / ".credentials.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "call").st_mode) == 0o700
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert Path(call.env[name]).is_dir() and Path(call.env[name]).is_relative_to(tmp_path)


def test_planted_settings_and_hooks_are_dropped_and_a_refreshed_credential_goes_back(
        home, tmp_path):
    before = snapshot(home)
    call = prepare("claude", tmp_path / "call", environ(home))
    copy = Path(call.env["CLAUDE_CONFIG_DIR"])
    hook = {"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "evil"}]}]}}
    (copy / "settings.json").write_text(json.dumps(hook))
    write(copy / "hooks/evil.sh", "#!/bin/sh\n", 0o755)
    (copy / ".claude.json").write_text('{"mcpServers": {"evil": {}}}\n')
    (copy / ".credentials.json").write_text(NEW_TOKEN)
    assert write_back(call) == [home / ".claude/.credentials.json"]
    after = snapshot(home)
    assert after.pop(".claude/.credentials.json") == NEW_TOKEN.encode()
    before.pop(".claude/.credentials.json")
    assert after == before
    assert stat.S_IMODE(os.stat(home / ".claude/.credentials.json").st_mode) == 0o600


def test_a_credential_refreshed_elsewhere_meanwhile_is_kept(home, tmp_path):
    call = prepare("claude", tmp_path / "call", environ(home))
    Path(call.env["CLAUDE_CONFIG_DIR"], ".credentials.json").write_text(NEW_TOKEN)
    (home / ".claude/.credentials.json").write_text('{"by": "the user\'s own session"}\n')
    assert write_back(call) == []
    assert "the user's own session" in (home / ".claude/.credentials.json").read_text()


@pytest.mark.parametrize("tamper", ["not json", "a json list", "a link", "deleted", "unchanged"])
def test_only_a_changed_json_credential_file_goes_back(home, tmp_path, tamper):
    call = prepare("claude", tmp_path / "call", environ(home))
    credential = Path(call.env["CLAUDE_CONFIG_DIR"], ".credentials.json")
    if tamper == "not json":
        credential.write_text("#!/bin/sh\nevil\n")
    elif tamper == "a json list":
        credential.write_text("[1, 2]\n")
    elif tamper == "a link":
        refreshed = write(tmp_path / "elsewhere.json", NEW_TOKEN)
        credential.unlink()
        credential.symlink_to(refreshed)
    elif tamper == "deleted":
        credential.unlink()
    assert write_back(call) == []
    assert (home / ".claude/.credentials.json").read_text() == OLD_TOKEN


def test_a_credential_the_user_never_had_is_not_created(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    call = prepare("claude", tmp_path / "call", environ(home))
    write(Path(call.env["CLAUDE_CONFIG_DIR"], ".credentials.json"), NEW_TOKEN)
    assert write_back(call) == []
    assert not (home / ".claude").exists()


def test_a_moved_claude_config_dir_is_copied_and_refreshed_where_it_is(home, tmp_path):
    moved = tmp_path / "claude-work"
    write(moved / ".claude.json", '{"work": true}\n')
    write(moved / ".credentials.json", OLD_TOKEN, 0o600)
    call = prepare("claude", tmp_path / "call", environ(home, CLAUDE_CONFIG_DIR=str(moved)))
    copy = Path(call.env["CLAUDE_CONFIG_DIR"])
    assert (copy / ".claude.json").read_text() == '{"work": true}\n'
    assert not (copy / "settings.json").exists()  # ~/.claude is not the state in use
    (copy / ".credentials.json").write_text(NEW_TOKEN)
    assert write_back(call) == [moved / ".credentials.json"]
    assert (home / ".claude/.credentials.json").read_text() == OLD_TOKEN


def test_a_linked_settings_file_is_copied_not_linked(home, tmp_path):
    dotfiles = write(tmp_path / "dotfiles/settings.json", '{"model": "opus"}\n')
    (home / ".claude/settings.json").unlink()
    (home / ".claude/settings.json").symlink_to(dotfiles)
    call = prepare("claude", tmp_path / "call", environ(home))
    copied = Path(call.env["CLAUDE_CONFIG_DIR"], "settings.json")
    assert not copied.is_symlink()
    copied.write_text('{"hooks": "planted"}\n')
    assert dotfiles.read_text() == '{"model": "opus"}\n'


def test_codex_gets_its_home_even_when_the_user_has_none(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    call = prepare("codex", tmp_path / "call", environ(home))
    assert Path(call.env["CODEX_HOME"]).is_dir()  # codex refuses a CODEX_HOME that is missing


def test_codex_auth_refreshed_under_a_moved_codex_home(tmp_path):
    real = tmp_path / "codex-home"
    write(real / "auth.json", '{"tokens": "old"}\n', 0o600)
    write(real / "sessions/2026/01/01/s.jsonl", "{}\n")
    call = prepare("codex", tmp_path / "call", {"HOME": str(tmp_path), "CODEX_HOME": str(real)})
    copy = Path(call.env["CODEX_HOME"])
    assert snapshot(copy) == {"auth.json": b'{"tokens": "old"}\n'}
    (copy / "auth.json").write_text('{"tokens": "new"}\n')
    write(copy / "config.toml", "[mcp_servers.evil]\n")
    assert write_back(call) == [real / "auth.json"]
    assert not (real / "config.toml").exists()


def test_gemini_is_pointed_at_a_home_holding_its_dot_gemini(tmp_path):
    home = tmp_path / "home"
    write(home / ".gemini/oauth_creds.json", '{"refresh_token": "old"}\n', 0o600)
    write(home / ".gemini/settings.json", "{}\n")
    write(home / ".gemini/tmp/chat.json", "{}\n")
    call = prepare("gemini", tmp_path / "call", environ(home))
    copy = Path(call.env["GEMINI_CLI_HOME"]) / ".gemini"
    assert snapshot(copy) == {"oauth_creds.json": b'{"refresh_token": "old"}\n',
                              "settings.json": b"{}\n"}
    (copy / "oauth_creds.json").write_text('{"refresh_token": "new"}\n')
    (copy / "settings.json").write_text('{"hooks": {}}\n')
    assert write_back(call) == [home / ".gemini/oauth_creds.json"]
    assert (home / ".gemini/settings.json").read_text() == "{}\n"


def test_opencode_data_config_and_cache_are_copied(tmp_path):
    home = tmp_path / "home"
    write(home / ".local/share/opencode/auth.json", '{"k": "old"}\n', 0o600)
    write(home / ".local/share/opencode/storage/session.json", "{}\n")
    write(home / ".config/opencode/opencode.json", "{}\n")
    write(home / ".cache/opencode/node_modules/provider/index.js", "x\n")
    call = prepare("opencode", tmp_path / "call", environ(home))
    assert snapshot(Path(call.env["XDG_DATA_HOME"])) == {"opencode/auth.json": b'{"k": "old"}\n'}
    assert snapshot(Path(call.env["XDG_CONFIG_HOME"])) == {"opencode/opencode.json": b"{}\n"}
    assert snapshot(Path(call.env["XDG_CACHE_HOME"])) == {
        "opencode/node_modules/provider/index.js": b"x\n"}
    Path(call.env["XDG_DATA_HOME"], "opencode/auth.json").write_text('{"k": "new"}\n')
    assert write_back(call) == [home / ".local/share/opencode/auth.json"]


def test_aider_gets_a_home_of_its_own_with_its_settings(tmp_path):
    home = tmp_path / "home"
    write(home / ".aider.conf.yml", "model: x\n")
    write(home / ".aider/analytics.json", "{}\n")
    write(home / ".ssh/id_rsa", "private\n")
    call = prepare("aider", tmp_path / "call", environ(home))
    assert snapshot(Path(call.env["HOME"])) == {".aider.conf.yml": b"model: x\n",
                                                ".aider/analytics.json": b"{}\n"}
    assert call.env["PYTHONUSERBASE"] == str(home / ".local")


@pytest.mark.parametrize("name", ["command", "tune"])
def test_agents_without_a_cli_state_get_nothing(tmp_path, name):
    call = prepare(name, tmp_path / "call", {"HOME": str(tmp_path)})
    assert (call.env, call.credentials) == ({}, ())
    assert call.path.is_dir() and not any(call.path.iterdir())


def test_every_cli_agent_has_its_state_described():
    assert set(STATE) | {"command", "tune"} == set(agents.NAMES)
