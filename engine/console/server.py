"""Running the console: uvicorn on the loopback address by default.

`serve` binds where it is told; on anything but a loopback address it warns, because the
console shows personal data and is meant to sit behind the operator's own TLS proxy (see
docs/CONSOLE.md). uvicorn's access log is off: request lines carry subscriber numbers, and the
console keeps its own record of who viewed which subscriber (the page-view log). uvicorn's
`Server` header is off too.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from engine.console.app import Settings, create_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8080, db_url: str | None = None, rules_dir: Path = Path("rules"),
          strategies_dir: Path = Path("strategies")) -> None:
    """Serve the console until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("rekindle.console")
    if not is_loopback(host):
        log.warning("serving on %s, not a loopback address: put it behind a TLS proxy and a firewall", host)
    app = create_app(Settings(db_url=db_url, rules_dir=Path(rules_dir), strategies_dir=Path(strategies_dir)))
    uvicorn.run(app, host=host, port=port, access_log=False, server_header=False, log_level="info",
                proxy_headers=False)
