"""Encrypted model fields for secrets Portico must use: MultiFernet under PORTICO_ENCRYPTION_KEYS.

The column holds a Fernet token; Python code sees the plaintext. A token that no configured key
opens raises DecryptionError rather than handing back ciphertext. Ciphertexts are randomised, so
lookups (other than isnull), uniqueness and indexes would be meaningless and are refused.
"""

import json
from typing import Any

from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models
from django.db.models.expressions import Combinable

from portal import encryption

# How every Fernet token begins (version byte 0x80, then a timestamp): not a secret.
FERNET_TOKEN_START = "gAAAAA"  # noqa: S105


class EncryptedTextField(models.TextField):
    description = "Text encrypted at rest with MultiFernet"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for option in ("primary_key", "unique", "db_index"):
            if kwargs.get(option):
                raise ImproperlyConfigured(f"{type(self).__name__} does not support {option}=True.")
        super().__init__(*args, **kwargs)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise FieldError(f"{type(self).__name__} does not support '{lookup_name}' lookups.")
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(f"{type(self).__name__} does not support transforms.")

    def to_plaintext(self, value: Any) -> str:
        return str(value)

    def from_plaintext(self, plaintext: str) -> Any:
        return plaintext

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encryption.encrypt(self.to_plaintext(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.from_plaintext(encryption.decrypt(value))

    def to_python(self, value: Any) -> Any:
        # What value_to_string wrote (loaddata): a Fernet token under the configured keys.
        if isinstance(value, str) and value.startswith(FERNET_TOKEN_START):
            try:
                return self.from_plaintext(encryption.decrypt(value))
            except encryption.DecryptionError:
                pass
        return value

    def value_to_string(self, obj: models.Model) -> str:
        """What serializers write (dumpdata, fixtures): the ciphertext, never the plaintext."""
        return encryption.encrypt(self.to_plaintext(self.value_from_object(obj)))


class EncryptedJSONField(EncryptedTextField):
    """A JSON object encrypted as one Fernet token (e.g. a tenant's pasted credentials)."""

    description = "JSON encrypted at rest with MultiFernet"
    # The Python types django-stubs gives the model attribute (made optional for null=True): a JSON
    # object, where TextField declares str. Annotations only; Django never reads them.
    _pyi_private_set_type: dict[str, Any] | Combinable  # type: ignore[assignment]  # see above
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]  # see above

    def to_plaintext(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def from_plaintext(self, plaintext: str) -> Any:
        return json.loads(plaintext)


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every concrete encrypted field of every installed model, for key rotation."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        if not model._meta.managed or model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found
