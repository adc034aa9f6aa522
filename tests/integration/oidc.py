"""A real OpenID Provider for the single sign-on tests: node's oidc-provider (tests/oidc_provider/),
installed with `npm ci` from its package-lock.json into tests/oidc_provider/node_modules (kept
between runs, reinstalled when the lock file changes) and started on a loopback port.

Its accounts are a JSON file the provider reads at every sign-in, so a test changes a person's
groups by rewriting it. Fails, never skips, when node or npm are missing.
"""

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.processes import unused_port
from tests.subprocesses import stop

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc_provider"
CLIENT_ID = "portico-integration"
CLIENT_SECRET = "integration-client-secret-7e6d5c4b3a29"  # noqa: S105 - a test provider's client

ACCOUNTS: dict[str, dict[str, Any]] = {
    "hub-admin": {"groups": ["portal-hub-admins"], "organization": "acme", "given_name": "Hannah"},
    "consumer": {"groups": ["portal-consumers"], "organization": "acme", "given_name": "Casey"},
    "nobody": {"groups": ["staff"], "organization": "acme"},
    "stranger": {"groups": ["portal-consumers"], "organization": "initech"},
}
GROUP_ROLES = "portal-hub-admins=Hub admin,portal-consumers=Consumer"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"The single sign-on tests need {name} (Node.js 20.19 or later and npm: apt-get install nodejs npm) "
            "to run the OpenID Provider of tests/oidc_provider/.",
            pytrace=False,
        )
    return path


def install_provider() -> None:
    """`npm ci` into tests/oidc_provider/node_modules unless it holds what package-lock.json pins."""
    _tool("node")
    npm = _tool("npm")
    lock = PROVIDER_DIR / "package-lock.json"
    installed = PROVIDER_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"npm ci in {PROVIDER_DIR} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}", pytrace=False
        )


class OpenIdProvider:
    def __init__(self, accounts_file: Path, port: int, process: subprocess.Popen[str], log: Path) -> None:
        self.accounts_file = accounts_file
        self.port = port
        self.process = process
        self.log = log
        self.issuer = f"http://127.0.0.1:{port}"

    def set_groups(self, login: str, groups: list[str]) -> None:
        accounts = json.loads(self.accounts_file.read_text())
        accounts[login]["groups"] = groups
        self.accounts_file.write_text(json.dumps(accounts))


@contextmanager
def running_provider(tmp_dir: Path, portal_url: str) -> Iterator[OpenIdProvider]:
    """The provider on 127.0.0.1, its one client redirecting to this portal; stopped on exit."""
    install_provider()
    accounts_file = tmp_dir / "accounts.json"
    accounts_file.write_text(json.dumps(ACCOUNTS))
    port = unused_port()
    log = tmp_dir / "oidc-provider.log"
    env = {
        "PATH": str(Path(_tool("node")).parent),
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URIS": f"{portal_url}/oidc/callback/",
        "OIDC_POST_LOGOUT_REDIRECT_URIS": f"{portal_url}/accounts/login/",
        "OIDC_ACCOUNTS_FILE": str(accounts_file),
    }
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - node from PATH, our own server.js
            [_tool("node"), "server.js"], cwd=PROVIDER_DIR, env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )
    provider = OpenIdProvider(accounts_file, port, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The OpenID Provider did not start:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.2)
        yield provider
    finally:
        stop(process)
