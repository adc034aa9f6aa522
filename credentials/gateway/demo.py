"""The demo gateway's nginx configuration (`make run`, and the tests of the shipped file): Debian's
nginx with deploy/nginx/portico-gateway.conf, its EDIT lines set and one location per API slug,
each proxying to its own upstream.

For `make run` (DemoGateway) the same nginx also serves each API's demo upstream, a small JSON
answer on another loopback port, and stands in for the runtime target's side of the deployment
contract (docs/runtime-target-contract.md): it answers `POST /portico/access-keys` with a 2xx and
`GET /portico/health` with 200, keeping nothing. It enforces keys by asking /gateway/verify, which
is where a revocation takes effect.

Plain code (no Django). `python -m credentials.gateway.demo` writes make run's configuration and
becomes that nginx (scripts/run.sh).
"""

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED_CONF = REPOSITORY / "deploy" / "nginx" / "portico-gateway.conf"
NGINX = Path("/usr/sbin/nginx")
# Debian's libnginx-mod-http-set-misc and the ndk it needs: the key's HMAC, for the verify cache.
# Loaded by name, as a configuration of our own does not include /etc/nginx/modules-enabled/.
MODULES = (
    Path("/usr/lib/nginx/modules/ndk_http_module.so"),
    Path("/usr/lib/nginx/modules/ngx_http_set_misc_module.so"),
)
INSTALL_COMMAND = "apt-get update && apt-get install -y nginx-light libnginx-mod-http-set-misc"
# Where the demo runtime target receives deployments: its base URL is http://127.0.0.1:<port>/portico.
TARGET_PATH = "/portico"
TOKEN_FILE_NAME = "gateway-token.conf"  # noqa: S105 - a file name, not a secret

SLUG = re.compile(r"[A-Za-z0-9_-]+")
LOCATION_PATH = re.compile(r"/(?:[A-Za-z0-9_.-]+/)*")
TOKEN_LINE = re.compile(r'map "" \$portico_gateway_token \{ default "(prt_gw_[A-Za-z0-9_]+)"; \}\n?')


@dataclass(frozen=True)
class Location:
    """One protected API behind the gateway: requests under `path` need a key of API `slug`."""

    path: str
    slug: str
    upstream: str  # host:port of the API

    def __post_init__(self) -> None:
        if not LOCATION_PATH.fullmatch(self.path) or not SLUG.fullmatch(self.slug):
            raise ValueError(f"Not a location for nginx: {self.path!r} for API {self.slug!r}.")
        if not re.fullmatch(r"[A-Za-z0-9.-]+:\d{1,5}", self.upstream):
            raise ValueError(f"Not an upstream address (host:port): {self.upstream!r}.")


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"{SHIPPED_CONF.name} no longer has exactly one {old!r}")
    return text.replace(old, new)


def _block(text: str, opening: str) -> str:
    """The block that starts with the line `opening` (4-space indented or not), through its brace."""
    start = text.index(opening)
    indent = opening[: len(opening) - len(opening.lstrip())]
    end = text.index(f"\n{indent}}}\n", start) + len(f"\n{indent}}}\n")
    return text[start:end]


def render_gateway(
    shipped: str,
    *,
    token_file: Path,
    portico: str,
    listen: str,
    access_log: Path,
    cache_dir: Path,
    locations: Sequence[Location],
    extra_locations: str = "",
) -> str:
    """The shipped file with its EDIT lines set, and one location per API in place of its one
    `location /`, each with its `set $portico_api <slug>;` and its own upstream. ValueError when the
    shipped file no longer has exactly one of a line replaced here."""
    if not locations:
        raise ValueError("The gateway protects at least one API.")
    conf = shipped
    for old, new in {
        "include /etc/nginx/portico/gateway-token.conf;": f"include {token_file};",
        "server 127.0.0.1:8000;": f"server {portico};",
        "listen 8080;": f"listen {listen};",
        "/var/log/nginx/portico-gateway.log": str(access_log),
        "/run/nginx-portico-verify": str(cache_dir),
    }.items():
        conf = _replace_once(conf, old, new)
    upstream = _block(conf, "upstream protected_api {")
    location = _block(conf, "    location / {")
    upstreams, blocks = [], []
    for each in locations:
        name = f"protected_api_{each.slug}"
        upstreams.append(
            _replace_once(
                _replace_once(upstream, "upstream protected_api {", f"upstream {name} {{"),
                "server 127.0.0.1:9000;",
                f"server {each.upstream};",
            )
        )
        block = _replace_once(location, "location / {", f"location {each.path} {{")
        block = _replace_once(block, "set $portico_api weather;", f"set $portico_api {each.slug};")
        blocks.append(_replace_once(block, "proxy_pass http://protected_api;", f"proxy_pass http://{name};"))
    conf = conf.replace(upstream, "\n".join(upstreams))
    return conf.replace(location, "\n".join(blocks) + extra_locations)


def nginx_conf(*, conf_dir: Path, runtime_dir: Path, site: Path) -> str:
    """A whole nginx.conf around a site: the modules, a pid and error log in conf_dir (written by
    nginx's master), temp files in runtime_dir (used by its workers)."""
    modules = "".join(f"load_module {module};\n" for module in MODULES)
    temp_paths = "".join(
        f"    {name}_temp_path {runtime_dir / name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{modules}worker_processes 1;\npid {conf_dir / 'nginx.pid'};\nerror_log {conf_dir / 'error.log'} notice;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n{temp_paths}    include {site};\n}}\n"
    )


def nginx_command(conf_dir: Path) -> list[str]:
    """nginx in the foreground (no daemon), with everything it writes in conf_dir."""
    return [
        str(NGINX),
        "-p",
        str(conf_dir),
        "-c",
        str(conf_dir / "nginx.conf"),
        "-e",
        str(conf_dir / "error.log"),
        "-g",
        "daemon off;",
    ]


def missing_files() -> list[str]:
    """What of Debian's nginx and its set-misc module is not installed."""
    return [str(path) for path in (NGINX, *MODULES) if not path.exists()]


# --- The verify token file ---------------------------------------------------------------------
def token_file_text(token: str) -> str:
    """The one line nginx includes (deploy/nginx/README.md, step 2)."""
    if not re.fullmatch(r"prt_gw_[A-Za-z0-9_]+", token):
        raise ValueError("Not a gateway verify token.")
    return f'map "" $portico_gateway_token {{ default "{token}"; }}\n'


def read_token(path: Path) -> str | None:
    """The token in a token file; None when there is no file or it holds no token."""
    try:
        match = TOKEN_LINE.fullmatch(path.read_text())
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return match[1] if match else None


def write_token(path: Path, token: str) -> None:
    """Write the token file, mode 600 from the start (it holds a secret), replacing any old one whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.new")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token_file_text(token))
    os.replace(partial, path)


# --- make run's gateway --------------------------------------------------------------------------
def target_urls(gateway_port: int) -> tuple[str, str]:
    """The demo runtime target's base URL and health URL on a gateway port."""
    base = f"http://127.0.0.1:{gateway_port}{TARGET_PATH}"
    return base, f"{base}/health"


def demo_locations(paths: Sequence[str]) -> str:
    """The demo gateway's own locations: the runtime target's side of Deploy Access Key, for the
    demo only (acknowledged, never kept), and a 404 that names the APIs' paths."""
    listed = ", ".join(paths)
    return f"""
    # The demo only: Portico's deployments are acknowledged (a 2xx marks them deployed) and not
    # kept; keys are enforced by asking /gateway/verify above, where a revocation takes effect.
    location = {TARGET_PATH}/access-keys {{
        set $portico_api "";
        if ($request_method != POST) {{
            return 405;
        }}
        default_type application/json;
        return 200 '{{"accepted": true, "kept": false}}\\n';
    }}

    location = {TARGET_PATH}/health {{
        access_log off;
        default_type application/json;
        return 200 '{{"status": "up"}}\\n';
    }}

    location / {{
        set $portico_api "";
        default_type text/plain;
        return 404 "No API here. The demo APIs: {listed}\\n";
    }}
"""


def demo_upstream(slug: str, port: int) -> str:
    """A demo API: the same nginx answers a small JSON on another loopback port."""
    if not SLUG.fullmatch(slug):
        raise ValueError(f"Not an API slug: {slug!r}.")
    # The gateway sets X-Portico-Consumer from Portico's answer (a username: letters, digits, @.+-_).
    answer = f'{{"api": "{slug}", "consumer": "$http_x_portico_consumer", "answer": "Hello from the demo {slug} API"}}'
    return f"""
# The demo upstream of API {slug}: what the gateway protects.
server {{
    listen 127.0.0.1:{port};
    server_name _;
    access_log off;
    location / {{
        default_type application/json;
        return 200 '{answer}\\n';
    }}
}}
"""


@dataclass(frozen=True, kw_only=True)
class DemoGateway:
    """make run's gateway: nginx on gateway_port in front of Portico on portico_port, with a demo
    upstream per API (slug -> its port), /<slug>/ each."""

    conf_dir: Path  # configuration, token file, logs and pid: read and written by nginx's master
    runtime_dir: Path  # the verify cache and temp files: used by its workers, so they must enter it
    portico_port: int
    gateway_port: int
    upstream_ports: Mapping[str, int]

    @property
    def token_file(self) -> Path:
        return self.conf_dir / TOKEN_FILE_NAME

    @property
    def access_log(self) -> Path:
        return self.conf_dir / "access.log"

    @property
    def error_log(self) -> Path:
        return self.conf_dir / "error.log"

    @property
    def base_url(self) -> str:
        return target_urls(self.gateway_port)[0]

    def site(self) -> str:
        locations = [Location(f"/{slug}/", slug, f"127.0.0.1:{port}") for slug, port in self.upstream_ports.items()]
        gateway = render_gateway(
            SHIPPED_CONF.read_text(),
            token_file=self.token_file,
            portico=f"127.0.0.1:{self.portico_port}",
            listen=f"127.0.0.1:{self.gateway_port}",
            access_log=self.access_log,
            cache_dir=self.runtime_dir / "verify",
            locations=locations,
            extra_locations=demo_locations([each.path for each in locations]),
        )
        return gateway + "".join(demo_upstream(slug, port) for slug, port in self.upstream_ports.items())

    def write(self) -> list[str]:
        """Write the configuration into conf_dir (the token file is seed_demo's); returns the
        command that runs this nginx in the foreground."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        site = self.conf_dir / "portico-gateway.conf"
        site.write_text(self.site())
        conf = nginx_conf(conf_dir=self.conf_dir, runtime_dir=self.runtime_dir, site=site)
        (self.conf_dir / "nginx.conf").write_text(conf)
        return nginx_command(self.conf_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """Write make run's gateway configuration, then become that nginx (Ctrl-C or TERM stops it)."""
    parser = argparse.ArgumentParser(prog="python -m credentials.gateway.demo", description=main.__doc__)
    parser.add_argument("--conf-dir", type=Path, required=True)
    parser.add_argument("--runtime-dir", type=Path, required=True)
    parser.add_argument("--portico-port", type=int, default=8000)
    parser.add_argument("--gateway-port", type=int, default=8080)
    parser.add_argument("apis", nargs="+", metavar="SLUG=PORT", help="an API and its demo upstream's port")
    args = parser.parse_args(argv)
    upstream_ports = {}
    for item in args.apis:
        slug, _, port = item.partition("=")
        if not SLUG.fullmatch(slug) or not port.isdigit():
            parser.error(f"{item!r} is not SLUG=PORT")
        upstream_ports[slug] = int(port)
    missing = missing_files()
    if missing:
        sys.exit(f"The demo gateway needs {', '.join(missing)}. Install them as root: {INSTALL_COMMAND}")
    gateway = DemoGateway(
        conf_dir=args.conf_dir.resolve(),
        runtime_dir=args.runtime_dir.resolve(),
        portico_port=args.portico_port,
        gateway_port=args.gateway_port,
        upstream_ports=upstream_ports,
    )
    if not gateway.token_file.exists():
        sys.exit(f"{gateway.token_file} is missing: `manage.py seed_demo --gateway-dir {args.conf_dir}` writes it.")
    command = gateway.write()
    os.execv(command[0], command)  # noqa: S606 - fixed arguments


if __name__ == "__main__":
    main()
