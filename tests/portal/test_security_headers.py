"""The headers every page carries: a Content-Security-Policy that admits no inline script, HSTS,
frame and referrer policies, secure cookies in production; and pages with no inline script for
that policy to block."""

import json
import re
import subprocess
import sys

import pytest

from tests.factories import TEST_PASSWORD
from tests.portal.test_settings import BASE_DIR, production_env


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def script_sources(directives_: dict[str, list[str]]) -> list[str]:
    return directives_.get("script-src", directives_.get("default-src", []))


# --- Content-Security-Policy ----------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/accounts/login/", "/django-admin/login/"])
def test_a_page_has_a_policy_that_admits_no_inline_or_evaluated_script(client, db, url):
    policy = directives(client.get(url))

    assert "'self'" in script_sources(policy)
    assert "'unsafe-inline'" not in script_sources(policy) and "'unsafe-eval'" not in script_sources(policy)
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_a_signed_in_page_has_the_policy_too(client, consumer):
    client.force_login(consumer)

    response = client.get("/")

    assert response.status_code == 200
    assert "'unsafe-inline'" not in script_sources(directives(response))


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


@pytest.mark.parametrize("url", ["/", "/preferences/", "/apis/", "/admin-center/", "/admin-center/audit/"])
def test_pages_hold_no_inline_script_handler_or_style_for_the_policy_to_block(client, hub_admin, consumer, url):
    client.force_login(hub_admin if url.startswith("/admin-center") else consumer)

    response = client.get(url)
    html = response.content.decode()

    assert response.status_code == 200
    assert INLINE_SCRIPT.findall(html) == []
    assert EVENT_HANDLER.findall(html) == []
    assert STYLE_ATTRIBUTE.findall(html) == []


def test_the_login_page_loads_htmx_from_a_file_and_tells_it_to_inject_no_style_and_evaluate_nothing(client, db):
    html = client.get("/accounts/login/").content.decode()

    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.js"', html)
    assert config and json.loads(config.group(1)) == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
    }


def test_the_api_docs_run_their_one_inline_script_by_the_pages_nonce(client, db):
    response = client.get("/api/docs")
    html = response.content.decode()

    nonces = [
        value[len("'nonce-") : -1] for value in script_sources(directives(response)) if value.startswith("'nonce-")
    ]
    assert response.status_code == 200 and len(nonces) == 1
    inline = INLINE_SCRIPT.findall(html)
    assert inline and all(f'nonce="{nonces[0]}"' in tag for tag in inline)


# --- transport, framing, referrer -------------------------------------------------------------------
def test_a_page_over_https_has_hsts_and_the_frame_referrer_and_type_policies(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True

    response = client.get("/accounts/login/", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_with_secure_cookies_the_session_and_csrf_cookies_are_secure_and_the_session_one_http_only(
    client, consumer, settings
):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True

    page = client.get("/accounts/login/", secure=True)
    logged_in = client.post("/accounts/login/", {"username": "consumer", "password": TEST_PASSWORD}, secure=True)

    assert page.cookies["csrftoken"]["secure"] is True
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["secure"] is True and logged_in.cookies["sessionid"]["httponly"] is True


PRODUCTION_PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "X_FRAME_OPTIONS": settings.X_FRAME_OPTIONS,
    "SECURE_REFERRER_POLICY": settings.SECURE_REFERRER_POLICY,
    "script-src": [str(v) for v in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"]],
}))
"""


def test_production_settings_send_hsts_and_secure_cookies():
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", PRODUCTION_PROBE],
        cwd=BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    probe = json.loads(result.stdout)

    assert probe["SESSION_COOKIE_SECURE"] is True and probe["CSRF_COOKIE_SECURE"] is True
    assert probe["SECURE_HSTS_SECONDS"] >= 31536000 and probe["SECURE_SSL_REDIRECT"] is True
    assert probe["X_FRAME_OPTIONS"] == "DENY" and probe["SECURE_REFERRER_POLICY"] == "same-origin"
    assert "'unsafe-inline'" not in probe["script-src"]
