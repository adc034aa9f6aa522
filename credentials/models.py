"""The models of the credentials app, defined in its domain sub-packages. Django finds an app's
models here; the app label stays "credentials", so tables and migrations keep their names."""

from credentials.connections.models import ConnectionRequest, Tenant
from credentials.expiry.models import ExpiryReminder
from credentials.integration.models import AccessToken, ApiCredential, Role, new_client_id, new_public_id
from credentials.keys.models import Api, ApiKey, KeyDeployment, KeySecret, RuntimeTarget

__all__ = [
    "AccessToken",
    "Api",
    "ApiCredential",
    "ApiKey",
    "ConnectionRequest",
    "ExpiryReminder",
    "KeyDeployment",
    "KeySecret",
    "Role",
    "RuntimeTarget",
    "Tenant",
    "new_client_id",
    "new_public_id",
]
