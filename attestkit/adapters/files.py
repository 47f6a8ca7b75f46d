"""Reading and writing the files attestkit works with: receipts, keys, trust stores.

Private keys are refused when group/other can access them and are written 0600; every
write goes to a temporary file that is renamed into place, so a failure never leaves a
partial file behind.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Mapping
from typing import Any

from attestkit.core.keys import PrivateKey, PublicKey, parse_private_key, parse_public_key
from attestkit.core.reader import Receipt, format_for_name, parse_document, parse_receipt
from attestkit.core.trust import TrustStore, parse_trusted_keys
from attestkit.errors import InputFileError, KeyFormatError, KeyPermissionError, TrustStoreError

PASSPHRASE_ENV = "ATTESTKIT_KEY_PASSPHRASE"  # noqa: S105 - the variable name
SIGNING_KEY_ENV = "ATTESTKIT_SIGNING_KEY"


def read_bytes(path: str, what: str = "file") -> bytes:
    """Read a whole file (``-`` is standard input) with a one-line error on failure."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputFileError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected a {what}") from None
    except PermissionError:
        raise InputFileError(f"{path}: permission denied reading {what}") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read {what}: {exc.strerror}") from None


def read_receipt_file(path: str) -> Receipt:
    """Read and strictly parse a receipt file (JSON or YAML; ``-`` is stdin)."""
    data = read_bytes(path, "receipt")
    source = "<stdin>" if path == "-" else path
    return parse_receipt(data, source=source, fmt=format_for_name(path))


def write_atomic(path: str, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> None:
    """Write *data* to *path* through a temporary file and a rename."""
    import tempfile

    directory = os.path.dirname(path) or "."
    name = os.path.basename(path)
    if not overwrite and os.path.exists(path):
        raise InputFileError(f"{path}: already exists; refusing to overwrite")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if overwrite:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if path appeared meanwhile
            os.unlink(temp)
    except FileExistsError:
        os.unlink(temp)
        raise InputFileError(f"{path}: already exists; refusing to overwrite") from None
    except OSError as exc:
        if os.path.exists(temp):
            os.unlink(temp)
        raise InputFileError(f"{path}: cannot write: {exc.strerror}") from None


def _passphrase(environ: Mapping[str, str]) -> bytes | None:
    value = environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def load_private_key_file(path: str, environ: Mapping[str, str] | None = None) -> PrivateKey:
    """Load a private key file, refusing one that group or others can access."""
    env = os.environ if environ is None else environ
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: key file not found") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read key file: {exc.strerror}") from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        raise KeyPermissionError(
            f"{path}: private key is accessible by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod 600 {path}"
        )
    data = read_bytes(path, "key file")
    try:
        return parse_private_key(data, _passphrase(env))
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc.message}", code=exc.code) from None


def load_private_key_env(environ: Mapping[str, str] | None = None) -> PrivateKey | None:
    """The private key held as PEM text in ``ATTESTKIT_SIGNING_KEY``, if set."""
    env = os.environ if environ is None else environ
    text = env.get(SIGNING_KEY_ENV)
    if not text:
        return None
    try:
        return parse_private_key(text.encode("utf-8"), _passphrase(env))
    except KeyFormatError as exc:
        raise KeyFormatError(f"{SIGNING_KEY_ENV}: {exc.message}", code=exc.code) from None


def load_public_key(value: str) -> PublicKey:
    """A public key from a literal (``ed25519:<hex>``, ``ssh-ed25519 ...``) or a file holding one."""
    text = value.strip()
    if text.startswith(("ed25519:", "ssh-ed25519 ", "-----BEGIN")):
        return parse_public_key(text)
    if not os.path.exists(value):
        raise KeyFormatError(f"{value}: not a public key literal and no such file")
    data = read_bytes(value, "public key file")
    try:
        return parse_public_key(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise KeyFormatError(f"{value}: public key file is not text") from None
    except KeyFormatError as exc:
        raise KeyFormatError(f"{value}: {exc.message}", code=exc.code) from None


def load_trusted_keys_file(path: str) -> TrustStore:
    """Parse a trusted-keys file (key lines, PEM blocks or a keyring)."""
    data = read_bytes(path, "trusted keys file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustStoreError(f"{path}: trusted keys file is not UTF-8 text") from None
    return parse_trusted_keys(text, path)


def update_keyring(path: str, change: Callable[[dict[str, Any]], None]) -> TrustStore:
    """Apply *change* to the keyring document at *path* (created if absent), validate, write.

    The previous file is kept as ``PATH.bak``; the write is atomic, so an interrupted or
    invalid update never leaves a broken keyring.
    """
    from attestkit.core.keyring import parse_keyring
    from attestkit.core.yaml_reader import dump_yaml

    old: bytes | None = None
    document: dict[str, Any] = {"version": 1, "keys": []}
    if os.path.exists(path):
        old = read_bytes(path, "keyring")
        loaded = parse_document(old, source=path, fmt="yaml")
        if not isinstance(loaded, dict):
            raise TrustStoreError(f"{path}: a keyring must be a mapping")
        document = loaded
        parse_keyring(old.decode("utf-8"), path)  # refuse to build on a broken keyring
    change(document)
    text = "# attestkit keyring (see docs/keys.md)\n" + dump_yaml(document)
    store = parse_keyring(text, path)
    if old is not None:
        write_atomic(path + ".bak", old, mode=0o644)
    write_atomic(path, text.encode("utf-8"), mode=0o644)
    return store


def write_keypair(out_dir: str, name: str, key: PrivateKey, passphrase: bytes | None = None) -> tuple[str, str]:
    """Write ``DIR/NAME.key`` (PKCS#8 PEM, 0600) and ``DIR/NAME.pub``; never overwrite."""
    if not name or "/" in name or name.startswith("."):
        raise InputFileError(f"{name!r}: key name must be a plain file name")
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    key_path = os.path.join(out_dir, f"{name}.key")
    pub_path = os.path.join(out_dir, f"{name}.pub")
    for existing in (key_path, pub_path):
        if os.path.lexists(existing):
            raise InputFileError(f"{existing}: already exists; refusing to overwrite a key")
    write_atomic(key_path, key.to_pem(passphrase), mode=0o600, overwrite=False)
    try:
        write_atomic(pub_path, (key.public_key.text + "\n").encode("ascii"), mode=0o644, overwrite=False)
    except Exception:
        os.unlink(key_path)
        raise
    return key_path, pub_path


__all__ = [
    "PASSPHRASE_ENV",
    "SIGNING_KEY_ENV",
    "load_private_key_env",
    "load_private_key_file",
    "load_public_key",
    "load_trusted_keys_file",
    "read_bytes",
    "read_receipt_file",
    "update_keyring",
    "write_atomic",
    "write_keypair",
]
