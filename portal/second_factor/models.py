"""The authenticator app a hub admin or approver enrols: a TOTP device whose key is encrypted at rest.

django-otp's own TOTPDevice keeps its key in clear (a hex CharField): anyone who reads the table,
or a backup of it, could make a user's codes. The key is a secret Portico must *use* (it computes
the codes to compare), so it is kept like the others Portico uses: an EncryptedTextField under
PORTICO_ENCRYPTION_KEYS, which `manage.py rotate_encryption_keys` re-encrypts with the rest.

Everything else is django-otp's: the Device base class (its session login, persistent ids), the
throttling and timestamp mixins, and the RFC 6238 arithmetic (django_otp.oath.TOTP).
"""

import time
from base64 import b32encode
from binascii import unhexlify
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP
from django_otp.util import random_hex

from portal.fields import EncryptedTextField

KEY_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA1


def new_key() -> str:
    """A fresh random key, hex-encoded (as django-otp's TOTPDevice makes them)."""
    return random_hex(KEY_BYTES)


class AuthenticatorApp(TimestampMixin, ThrottlingMixin, Device):
    """A TOTP app: 6 digits every 30 seconds, one step of tolerance either side, no replay."""

    key = EncryptedTextField(default=new_key, editable=False)
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)  # the time step of the last code accepted

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    @property
    def bin_key(self) -> bytes:
        return unhexlify(self.key.encode())

    def get_throttle_factor(self) -> int:
        # django-otp's exponential back-off is off: it would refuse a second try within a second
        # as if the code were wrong. Portico's own lockout counts the failures (services.py).
        return 0

    def verify_token(self, token: Any) -> bool:
        """Whether `token` is the app's code for now (within the tolerance) and newer than the last
        one accepted; saves the drift, the step and the throttle reset, or counts the failure."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            code = int(token)
        except (TypeError, ValueError):
            verified = False
        else:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time()
            verified = totp.verify(code, self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified

    @property
    def config_url(self) -> str:
        """The otpauth:// URL an authenticator app reads from the QR code (Key Uri Format)."""
        issuer = settings.SITE_NAME.replace(":", "")
        label = f"{issuer}:{self.user.get_username()}"
        params = urlencode(
            {"secret": b32encode(self.bin_key), "algorithm": "SHA1", "digits": self.digits, "period": self.step}
        )
        return f"otpauth://totp/{quote(label)}?{params}&issuer={quote(issuer)}"
