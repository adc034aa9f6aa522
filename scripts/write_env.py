"""Write a local .env with fresh secrets for `make run`, unless one exists. Standard library only."""

import base64
import os
import secrets
import sys
from pathlib import Path

path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
if path.exists():
    sys.exit(0)
fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
path.write_text(
    "# Written by `make run` for this machine only (ignored by git). See .env.example.\n"
    "DEBUG=true\n"
    f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
    f"PORTICO_ENCRYPTION_KEYS={fernet_key}\n"
    f"PORTICO_HASH_KEY={secrets.token_urlsafe(32)}\n"
    "ALLOWED_HOSTS=127.0.0.1,localhost\n"
    "SITE_URL=http://127.0.0.1:8000\n"
)
path.chmod(0o600)
print(f"Wrote {path} with fresh secret, encryption and hash keys.")  # noqa: T201
