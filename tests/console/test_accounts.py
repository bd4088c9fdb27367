"""Console users: argon2id salted hashes, the `rekindle users` commands, sessions ended by changes."""

from __future__ import annotations

from typer.testing import CliRunner

from auditrun import query

from cli.main import app
from consolekit import PASSWORD, login, make_client
from engine.console import accounts, sessions


def _hashes(db_url: str) -> dict[str, str]:
    return {r["username"]: r["password_hash"] for r in query(db_url, "SELECT username, password_hash FROM console_user")}


def test_passwords_are_stored_as_salted_argon2id_hashes(console_db):
    hashes = _hashes(console_db)
    assert set(hashes) == {"ada", "sam", "pia"}
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert len(set(hashes.values())) == 3  # same password, three salts
    assert not any(PASSWORD in h for h in hashes.values())
    assert accounts.authenticate("ada", PASSWORD, console_db) == accounts.User("ada", "auditor")
    assert accounts.authenticate("ada", PASSWORD + "x", console_db) is None
    assert accounts.authenticate("nobody", PASSWORD, console_db) is None


def test_users_commands_add_change_and_remove_a_login(run, console_db):
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "li.wei", "--role", "auditor", "--password-stdin", "--db", console_db],
                          input="a long enough secret\n")
    assert added.exit_code == 0, added.output
    assert "added li.wei (auditor)" in added.output
    listed = runner.invoke(app, ["users", "list", "--db", console_db])
    assert "li.wei\tauditor" in listed.output

    client = make_client(run, console_db)
    assert login(client, "li.wei", "a long enough secret").status_code == 303
    assert client.get("/").status_code == 200

    changed = runner.invoke(app, ["users", "passwd", "li.wei", "--password-stdin", "--db", console_db],
                            input="another long secret\n")
    assert changed.exit_code == 0, changed.output
    # the open session ended with the password change
    assert client.get("/").status_code == 303
    assert login(client, "li.wei", "a long enough secret").status_code == 401
    assert login(client, "li.wei", "another long secret").status_code == 303

    removed = runner.invoke(app, ["users", "remove", "li.wei", "--db", console_db])
    assert removed.exit_code == 0, removed.output
    assert client.get("/").status_code == 303
    assert login(client, "li.wei", "another long secret").status_code == 401


def test_bad_names_roles_and_short_passwords_are_refused_with_a_code(console_db):
    runner = CliRunner()
    cases = [(["users", "add", "Bad Name", "--role", "auditor"], "long enough password", "CN001"),
             (["users", "add", "zoe", "--role", "admin"], "long enough password", "CN002"),
             (["users", "add", "zoe", "--role", "planner"], "short", "CN003"),
             (["users", "add", "ada", "--role", "planner"], "long enough password", "CN004"),
             (["users", "remove", "nobody"], "", "CN005")]
    for args, password, code in cases:
        result = runner.invoke(app, [*args, "--db", console_db] + (["--password-stdin"] if password else []),
                               input=password + "\n")
        assert result.exit_code == 1, (args, result.output)
        assert code in result.output, (args, result.output)
    assert set(_hashes(console_db)) == {"ada", "sam", "pia"}


def test_the_cookie_token_is_not_stored_only_its_hash(console_db):
    token = sessions.start(accounts.User("ada", "auditor"), console_db)
    stored = [r["token_sha256"] for r in query(console_db, "SELECT token_sha256 FROM console_session")]
    assert token not in stored and len(stored) == 1
    assert sessions.lookup(token, console_db).user.username == "ada"
    sessions.end(token, console_db)
    assert sessions.lookup(token, console_db) is None
