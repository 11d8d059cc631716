"""The hub's own Ed25519 key: made by `pos-hub init`, required by `pos-hub serve`.

    >>> create_key_file(settings.signing_key_path)    # True: made (0600); False: kept
    >>> private = load_key_file(settings.signing_key_path)

The key certifies terminal keys (`hub.store.terminal_keys`) and signs the member cards
the hub issues itself (the online channel). It lives in a file of its own, PEM PKCS#8
(`openssl pkey -in pos-hub.key -pubout` reads it), mode 0600, never in the database: a
database dump or a read replica must not be able to certify a till. There is no
built-in key: a hub without its file refuses to serve.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.exceptions import ConfigError
from loyalty.member_qr import new_private_key


def create_key_file(path: Path) -> bool:
    """Write a new key to `path` (0600) unless a file is already there; True if made.
    An existing key is never replaced: every certificate and hub-signed card relies on it."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.from_private_bytes(new_private_key()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    # O_EXCL: two `pos-hub init` at once cannot both write (one keeps the other's key);
    # mode 0600 from the first byte, so the key is never readable by others, even briefly.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, pem)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
    return True


def load_key_file(path: Path) -> bytes:
    """The raw private key in `path`; ConfigError (one sentence) when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no hub signing key at {path}: run `pos-hub init` to make one, or "
                          "set [hub] signing_key_file to where it is") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the hub signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{path} is not an unencrypted PEM private key: restore the hub's "
                          "key file from its backup") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} holds a key that is not Ed25519")
    return key.private_bytes_raw()


def readable_by_others(path: Path) -> bool:
    """Whether group or others may read (or write) `path`."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False
