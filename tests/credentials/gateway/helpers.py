"""Helpers of the /gateway/verify tests: the frozen clock, the URL, gateways and the reason of a refusal."""

from dataclasses import dataclass
from datetime import UTC, datetime

from credentials.keys.models import RuntimeTarget
from credentials.lib import crypto

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
URL = "/gateway/verify"


@dataclass
class Gateway:
    target: RuntimeTarget
    token: str


def make_gateway(name: str) -> Gateway:
    token = crypto.generate_secret("gw")
    target = RuntimeTarget.objects.create(
        name=name,
        base_url=f"https://{name}.example.com",
        signing_secret="signing-secret",
        verify_token_prefix=token.prefix,
        verify_token_digest=token.digest,
    )
    return Gateway(target=target, token=token.value)


def wrong_secret_for(prefix: str) -> str:
    """A well-formed key (right checksum) with a known key's prefix but another secret."""
    body = f"{prefix}_{'A' * crypto.SECRET_LENGTH}"
    return body + crypto._checksum(body)


def reason_of(response) -> str:
    assert response.status_code == 403, response.content
    assert response.json()["valid"] is False
    return response.json()["reason"]
