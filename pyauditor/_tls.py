"""The TLS context of a client: AUDITOR's HTTPS listener requires a client certificate.

Everything is checked when the client is built, so that a wrong path or swapped arguments give a
clear :class:`~pyauditor.ConfigurationError` at start-up instead of a failure on the first
request (python-auditor panics in that situation).
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

from ._errors import ConfigurationError

__all__ = ["TLSFiles", "create_ssl_context"]

_ORDER_HINT = (
    "python-auditor's order is with_tls(client_cert_path, client_key_path, ca_cert_path); "
    "older documentation lists the CA first"
)
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


class TLSFiles:
    """The three PEM files of a mutual-TLS client configuration."""

    __slots__ = ("ca_cert_path", "client_cert_path", "client_key_path")

    def __init__(
        self,
        client_cert_path: str | os.PathLike[str],
        client_key_path: str | os.PathLike[str],
        ca_cert_path: str | os.PathLike[str],
    ) -> None:
        for name, value in (
            ("client_cert_path", client_cert_path),
            ("client_key_path", client_key_path),
            ("ca_cert_path", ca_cert_path),
        ):
            if not isinstance(value, str | os.PathLike):
                raise TypeError(
                    f"{name} must be a path (str or os.PathLike), got {type(value).__name__}"
                )
        self.client_cert_path = Path(client_cert_path)
        self.client_key_path = Path(client_key_path)
        self.ca_cert_path = Path(ca_cert_path)

    def __repr__(self) -> str:
        return (
            f"TLSFiles(client_cert_path={str(self.client_cert_path)!r}, "
            f"client_key_path={str(self.client_key_path)!r}, ca_cert_path={str(self.ca_cert_path)!r})"
        )


def _read(path: Path, role: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{role} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{role} {str(path)!r} is a directory, not a PEM file") from None
    except PermissionError:
        raise ConfigurationError(f"{role} {str(path)!r} is not readable by this process") from None
    except OSError as error:
        raise ConfigurationError(f"{role} {str(path)!r} cannot be read: {error.strerror}") from None


def _kinds(data: bytes) -> set[str]:
    """The PEM block types in ``data``: {"CERTIFICATE"}, {"PRIVATE KEY"}, ..."""
    return {
        "PRIVATE KEY" if kind.endswith(b"PRIVATE KEY") else kind.decode()
        for kind in _PEM_BLOCK.findall(data)
    }


def create_ssl_context(files: TLSFiles) -> ssl.SSLContext:
    """Build the one SSLContext a client uses: trust ``ca_cert_path``, present the client pair.

    Certificate and host-name verification stay on; there is no switch to turn them off.

    Raises:
        ConfigurationError: a file is missing or unreadable, holds the wrong kind of PEM data
            (for example the arguments are swapped), or the key does not match the certificate.
    """
    cert = _read(files.client_cert_path, "client certificate (client_cert_path)")
    key = _read(files.client_key_path, "client key (client_key_path)")
    ca = _read(files.ca_cert_path, "CA certificate (ca_cert_path)")
    cert_kinds, key_kinds, ca_kinds = _kinds(cert), _kinds(key), _kinds(ca)

    if "PRIVATE KEY" in ca_kinds and "CERTIFICATE" not in ca_kinds:
        raise ConfigurationError(
            f"ca_cert_path {str(files.ca_cert_path)!r} holds a private key, not CA certificates; "
            f"the arguments look swapped ({_ORDER_HINT})"
        )
    if "CERTIFICATE" not in ca_kinds:
        raise ConfigurationError(
            f"ca_cert_path {str(files.ca_cert_path)!r} holds no PEM certificate "
            "(expected '-----BEGIN CERTIFICATE-----')"
        )
    if "PRIVATE KEY" in cert_kinds and "CERTIFICATE" not in cert_kinds:
        raise ConfigurationError(
            f"client_cert_path {str(files.client_cert_path)!r} holds a private key, not a certificate; "
            f"the arguments look swapped ({_ORDER_HINT})"
        )
    if "CERTIFICATE" not in cert_kinds:
        raise ConfigurationError(
            f"client_cert_path {str(files.client_cert_path)!r} holds no PEM certificate "
            "(expected '-----BEGIN CERTIFICATE-----')"
        )
    if "PRIVATE KEY" not in key_kinds:
        swapped = " (the arguments look swapped)" if "CERTIFICATE" in key_kinds else ""
        raise ConfigurationError(
            f"client_key_path {str(files.client_key_path)!r} holds no PEM private key{swapped}; "
            f"{_ORDER_HINT}"
        )

    if b"ENCRYPTED" in key:
        raise ConfigurationError(
            f"client_key_path {str(files.client_key_path)!r} is encrypted; AUDITOR clients need an "
            "unencrypted key (decrypt it with `openssl pkey -in KEY -out KEY.plain`)"
        )

    # PROTOCOL_TLS_CLIENT verifies the certificate and the host name; unlike
    # create_default_context it does not also trust the system's CAs, so only the configured
    # CA can vouch for the AUDITOR server.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
    except ssl.SSLError as error:
        raise ConfigurationError(
            f"ca_cert_path {str(files.ca_cert_path)!r} could not be loaded: {error.reason or error}"
        ) from None
    try:
        # The password callback keeps OpenSSL from prompting on a terminal for a key it cannot
        # read; an empty password simply fails.
        context.load_cert_chain(
            certfile=files.client_cert_path, keyfile=files.client_key_path, password=lambda: b""
        )
    except ssl.SSLError as error:
        reason = error.reason or str(error)
        if "KEY_VALUES_MISMATCH" in str(error) or reason == "KEY_VALUES_MISMATCH":
            raise ConfigurationError(
                f"client_key_path {str(files.client_key_path)!r} is not the key of the certificate "
                f"in client_cert_path {str(files.client_cert_path)!r}"
            ) from None
        raise ConfigurationError(
            f"the client certificate {str(files.client_cert_path)!r} and key "
            f"{str(files.client_key_path)!r} could not be loaded: {reason}"
        ) from None
    return context
