"""Secrets at rest: API tokens are encrypted with a Fernet key kept in the home directory (0600)
or given by ``$THREATMATCH_SECRET_KEY``. Plain tokens exist only in memory, never in logs or output.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from threatmatch.errors import SecretError

ENV_KEY = "THREATMATCH_SECRET_KEY"


class SecretBox:
    """Encrypts and decrypts small secrets with one key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretError(f"the secret key is malformed ({exc}); set ${ENV_KEY} to a Fernet key "
                              "or remove the key file to create a new one (stored tokens are then lost)") from exc

    @classmethod
    def for_key_file(cls, path: Path) -> SecretBox:
        """Key from ``$THREATMATCH_SECRET_KEY``, else ``path`` (created with mode 0600 when missing)."""
        env = os.environ.get(ENV_KEY)
        if env:
            return cls(env.encode())
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise SecretError("a stored secret cannot be decrypted with the current key: "
                              f"was the key file or ${ENV_KEY} changed? Re-enter the token.") from exc


class Secret:
    """A string that never shows itself in repr/str/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__
