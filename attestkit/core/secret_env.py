"""Environment variables attestkit reads as secrets, and keeping them from build steps.

A build step is code attestkit records, not code it trusts: it must never see the signing
key, its passphrase or a service credential, and none of them may be snapshotted into a
receipt. :func:`child_environment` is the environment every step gets; :func:`secret_reason`
says why a name may not be set by a pipeline file or snapshotted with ``--env``.

Besides the fixed names, ``ATTESTKIT_SECRET_ENV`` (comma-separated) names more variables to
treat the same way, e.g. the variables a job passes to ``webhook verify --secret-env``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SIGNING_KEY_ENV = "ATTESTKIT_SIGNING_KEY"
PASSPHRASE_ENV = "ATTESTKIT_KEY_PASSPHRASE"  # noqa: S105 - a variable name
EXTRA_SECRETS_ENV = "ATTESTKIT_SECRET_ENV"

# The signing key, its passphrase, and every service profile's credentials
# (attestkit.adapters.profiles; tests/unit/common/test_secret_env.py keeps the two lists in step).
SECRET_ENV_NAMES: frozenset[str] = frozenset(
    {
        SIGNING_KEY_ENV,
        PASSPHRASE_ENV,
        "ATTEST_TOKEN",
        "CONTINUUM_TOKEN",
        "CONTINUUM_USER",
        "CONTINUUM_PASSWORD",
        "CONTINUM_API_KEY",
        "CONTINUE_HUB_API_KEY",
    }
)


def declared_secret_names(environ: Mapping[str, str]) -> frozenset[str]:
    """The names listed in ``ATTESTKIT_SECRET_ENV`` (comma or space separated)."""
    text = environ.get(EXTRA_SECRETS_ENV, "")
    return frozenset(name for name in text.replace(",", " ").split() if name)


def secret_names(environ: Mapping[str, str]) -> frozenset[str]:
    """Every variable treated as a secret in *environ*: the fixed names and the declared ones."""
    return SECRET_ENV_NAMES | declared_secret_names(environ)


def secret_reason(name: str, environ: Mapping[str, str]) -> str | None:
    """Why *name* may not reach a build step or a receipt, or None when it may."""
    if name in SECRET_ENV_NAMES:
        return f"{name} is a secret attestkit reads (signing key, passphrase or service credential)"
    if name == EXTRA_SECRETS_ENV:  # set by a pipeline, it would unlist the job's secrets for every step
        return f"{name} says which variables are secret; only the job's own environment sets it"
    if name in declared_secret_names(environ):
        return f"{name} is declared secret in ${EXTRA_SECRETS_ENV}"
    return None


def refuse_secret_names(names: Iterable[str], environ: Mapping[str, str], what: str) -> str | None:
    """A one-line refusal for the first secret among *names* (*what* says where it was given)."""
    for name in names:
        reason = secret_reason(name, environ)
        if reason is not None:
            return f"{what}: {reason}; build steps never see secrets and receipts never record them"
    return None


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """*environ* without any secret variable: the environment a build step runs with."""
    hidden = secret_names(environ)
    return {name: value for name, value in environ.items() if name not in hidden}


__all__ = [
    "EXTRA_SECRETS_ENV",
    "PASSPHRASE_ENV",
    "SECRET_ENV_NAMES",
    "SIGNING_KEY_ENV",
    "child_environment",
    "declared_secret_names",
    "refuse_secret_names",
    "secret_names",
    "secret_reason",
]
