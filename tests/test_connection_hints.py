"""pyauditor._hints: what a failed connection most likely means, from the error and the URL.

The end-to-end cases (a real TLS listener, real certificates) are in
tests/cli/test_bad_paths.py; these pin the recognition itself, including texts of other
OpenSSL versions and of AUDITOR's rustls listener that the embedded server does not produce.
"""

from __future__ import annotations

import pytest

from pyauditor import APIConnectionError, AuditorClientBuilder
from pyauditor._hints import connection_hint
from pyauditor.testing import AuditorTestServer


@pytest.mark.parametrize(
    ("detail", "url", "hint"),
    [
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "https://h:8000",
         "h:8000 does not speak TLS: use an http:// URL"),
        ("[SSL: RECORD_LAYER_FAILURE] record layer failure (_ssl.c:1000)", "https://h:8000",
         "does not speak TLS"),
        ("[Errno 104] Connection reset by peer", "http://h:8443",
         "if h:8443 is the server's HTTPS (mutual TLS) listener, use an https:// URL"),
        ("Server disconnected without sending a response.", "http://h:8443", "https:// URL"),
        ("ReadError", "http://h:8443", "https:// URL"),
        ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
         "https://h:8443", "requires a client certificate: set it up with with_tls()"),
        ("[SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate expired",
         "https://h:8443", "client certificate (client_cert_path) as expired"),
        ("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)", "https://h:8443",
         "refused the client certificate (client_cert_path)"),
        ("[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate", "https://h:8443",
         "refused the client certificate"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
         "certificate is not valid for 'h'.", "https://h:8443",
         "not issued for 'h': connect by a name or address the certificate lists"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
         "https://h:8443", "the server's certificate has expired"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
         "issuer certificate", "https://h:8443",
         "not signed by a CA this client trusts: give the CA that signed it as ca_cert_path"),
    ],
)  # fmt: skip
def test_recognised_failures(detail: str, url: str, hint: str) -> None:
    found = connection_hint(detail, url)
    assert found is not None
    assert hint in found


@pytest.mark.parametrize(
    ("detail", "url"),
    [
        ("[Errno 111] Connection refused", "http://h:8000"),
        ("[Errno 104] Connection reset by peer", "https://h:8443"),  # not a scheme mismatch
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "http://h:8000"),
        ("[Errno -2] Name or service not known", "https://h:8443"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "https://h:99999999"),  # bad port
    ],
)
def test_other_failures_get_no_hint(detail: str, url: str) -> None:
    assert connection_hint(detail, url) is None


def test_the_client_adds_the_hint(auditor_server: AuditorTestServer) -> None:
    url = auditor_server.url.replace("http://", "https://")
    client = AuditorClientBuilder().connection_string(url).retries(0).build_blocking()
    with client, pytest.raises(APIConnectionError) as caught:
        client.advanced_query("limit=1")
    assert str(caught.value).startswith(f"GET {url}/records?limit=1 failed: cannot connect: ")
    assert str(caught.value).endswith(
        "does not speak TLS: use an http:// URL for a plain port, or the port of the server's "
        "HTTPS listener"
    )
