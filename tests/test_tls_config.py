"""Building the client's TLS context: clear errors at build time (pyauditor._tls)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
import trustme

from pyauditor import ConfigurationError
from pyauditor._tls import TLSFiles, create_ssl_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("htcondor.collector")
    other = trustme.CA().issue_cert("someone.else")
    paths = {
        "ca": root / "ca.pem",
        "cert": root / "client.pem",
        "key": root / "client.key",
        "other_key": root / "other.key",
        "garbage": root / "garbage.pem",
        "encrypted": root / "encrypted.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client.private_key_pem.write_to_path(str(paths["key"]))
    other.private_key_pem.write_to_path(str(paths["other_key"]))
    paths["garbage"].write_text("not a certificate\n")
    paths["encrypted"].write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    return paths


def test_valid_files_give_a_verifying_context(pki: dict[str, Path]) -> None:
    context = create_ssl_context(TLSFiles(pki["cert"], pki["key"], pki["ca"]))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert len(context.get_ca_certs()) == 1


def test_str_paths_are_accepted(pki: dict[str, Path]) -> None:
    create_ssl_context(TLSFiles(str(pki["cert"]), str(pki["key"]), str(pki["ca"])))


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (("key", "cert", "ca"), "client_cert_path .* holds a private key.*swapped"),
        (
            ("ca", "cert", "key"),
            "ca_cert_path .* holds a private key.*swapped.*client_cert_path, client_key_path, ca_cert_path",
        ),
        (("cert", "ca", "ca"), "client_key_path .* holds no PEM private key .*swapped"),
        (("cert", "key", "garbage"), "ca_cert_path .* holds no PEM certificate"),
        (("garbage", "key", "ca"), "client_cert_path .* holds no PEM certificate"),
        (("cert", "other_key", "ca"), "client_key_path .* is not the key of the certificate"),
        (("cert", "encrypted", "ca"), "encrypted"),
    ],
)
def test_wrong_files_are_named(
    pki: dict[str, Path], order: tuple[str, str, str], message: str
) -> None:
    cert, key, ca = (pki[name] for name in order)
    with pytest.raises(ConfigurationError, match=message) as caught:
        create_ssl_context(TLSFiles(cert, key, ca))
    assert isinstance(caught.value, RuntimeError)
    assert "\n" not in str(caught.value)


def test_missing_file(pki: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"client key \(client_key_path\) .*does not exist"
    ):
        create_ssl_context(TLSFiles(pki["cert"], tmp_path / "nope.key", pki["ca"]))


def test_directory_instead_of_file(pki: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        create_ssl_context(TLSFiles(pki["cert"], pki["key"], tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_unreadable_file(pki: dict[str, Path], tmp_path: Path) -> None:
    locked = tmp_path / "locked.pem"
    locked.write_bytes(pki["ca"].read_bytes())
    locked.chmod(0)
    with pytest.raises(ConfigurationError, match="not readable"):
        create_ssl_context(TLSFiles(pki["cert"], pki["key"], locked))


def test_non_path_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="client_cert_path must be a path"):
        TLSFiles(None, "k", "c")  # type: ignore[arg-type]
