"""What a failed connection most likely means, and how to fix it, for error messages.

The TLS stack reports a scheme mismatch or a certificate problem in its own terms
(``[SSL: WRONG_VERSION_NUMBER] wrong version number``, ``Connection reset by peer``), which
say nothing to someone who typed ``https://`` for a plain port.  :func:`connection_hint`
recognises the common cases from the error text and the URL and names the likely cause and the
fix, in the library's terms (``with_tls()``, ``ca_cert_path``); the ``pyauditor`` command says
the same in its options.  It only adds to a message: an error it does not recognise keeps its
text as it is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["connection_hint"]

_NOT_TLS = (
    "wrong_version_number",
    "wrong version number",
    "record layer failure",
    "packet length too long",
    "unknown protocol",
)
# A plain-HTTP request to a TLS port: AUDITOR's rustls listener closes the connection (the
# embedded server resets it) instead of answering.
_PLAIN_TO_TLS = (
    "connection reset by peer",
    "server disconnected without sending a response",
    "illegal status line",
    "invalid http response",
)
_CLIENT_CERT_REFUSED = (
    "alert_unknown_ca",
    "alert unknown ca",
    "alert_bad_certificate",
    "alert bad certificate",
    "alert_certificate_unknown",
    "alert certificate unknown",
    "alert_decrypt_error",
)


def connection_hint(detail: str, url: str) -> str | None:
    """The likely cause of a failed connection to ``url`` and its fix, or None if unknown.

    Args:
        detail: The transport's error text.
        url: The URL the request went to.
    """
    text = detail.lower()
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname or "", parts.port
    except ValueError:
        return None
    where = f"{host}:{port}" if port is not None else host
    if scheme == "https" and any(marker in text for marker in _NOT_TLS):
        return (
            f"{where} does not speak TLS: use an http:// URL for a plain port, or the port of "
            "the server's HTTPS listener"
        )
    # A connection dropped without a word: httpx's ReadError and friends have no message then.
    dropped = text.strip() in ("readerror", "writeerror", "remoteprotocolerror")
    if scheme == "http" and (dropped or any(marker in text for marker in _PLAIN_TO_TLS)):
        return (
            f"if {where} is the server's HTTPS (mutual TLS) listener, use an https:// URL "
            "and with_tls()"
        )
    if "certificate_required" in text or "certificate required" in text:
        return "the server requires a client certificate: set it up with with_tls()"
    if "certificate_expired" in text or "alert certificate expired" in text:
        return "the server refused the client certificate (client_cert_path) as expired"
    if any(marker in text for marker in _CLIENT_CERT_REFUSED):
        return (
            "the server refused the client certificate (client_cert_path): it must be signed "
            "by a CA the server trusts, and client_key_path must be its key"
        )
    if "certificate_verify_failed" in text or "certificate verify failed" in text:
        if "mismatch" in text:
            return (
                f"the server's certificate is not issued for {host!r}: connect by a name or "
                "address the certificate lists"
            )
        if "expired" in text:
            return "the server's certificate has expired (or this machine's clock is wrong)"
        return (
            "the server's certificate is not signed by a CA this client trusts: give the CA "
            "that signed it as ca_cert_path"
        )
    return None
