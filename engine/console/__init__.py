"""The audit console 审计控制台: a read-only web page where auditors trace any decision, behind a login.

`rekindle serve` (cli/serve.py → `server.serve`) runs `app.create_app` with uvicorn on the
loopback address. The pages read what the other stages wrote — `explain` for a decision's
account, the run report for the funnel, `verify_run` for the hash chain, approvals and git
history for content versions — and never re-derive or change it. Users and roles
(accounts.py, access.py), sessions and CSRF (sessions.py), the page-view log (access.py) and
the security headers (web.py) are the console's own. docs/CONSOLE.md is the guide.
"""

from engine.console.app import Settings, create_app

__all__ = ["Settings", "create_app"]
