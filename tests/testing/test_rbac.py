"""RBAC on the HTTPS listener, as AUDITOR 0.11 does it (auditor-server-0.11.md §7.4, §8).

Every answer here is checked against openapi.yaml by the ``server_factory`` fixture, so the
403s, the 500s and the dropped connections are also the documented ones.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import yaml

from pyauditor.testing import AuditorTestServer, DataAccessRule, RbacConfig

from .conftest import ServerFactory
from .test_routes import NOT_FOUND, record

TEXT = "text/plain; charset=utf-8"
INSUFFICIENT = b"Insufficient permissions"
DENIED = b"Access denied by RBAC policy"

ROLES = RbacConfig(
    monitoring_role_cn=["monitoring.role"],
    write_access_cn=["htcondor.collector"],
    read_access_cn=["apel.plugin"],
    data_access_rules=[DataAccessRule("site.reader", {"site_id": ["site1", "site2"]})],
)


class PKI:
    """A throw-away CA, a server certificate and client certificates with chosen CNs."""

    CNS = ("htcondor.collector", "apel.plugin", "monitoring.role", "site.reader", "nobody")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        server.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
        server.private_key_pem.write_to_path(str(root / "server.key"))
        self.ca.cert_pem.write_to_path(str(root / "ca.pem"))
        self._certs = {cn: self.ca.issue_cert(cn, common_name=cn) for cn in self.CNS}
        # A certificate without any CN: AUDITOR's subject is then "missing".
        self._certs[""] = self.ca.issue_cert("no-cn.example")

    def server_options(self) -> dict[str, Any]:
        return {
            "tls_cert": self.root / "server.pem",
            "tls_key": self.root / "server.key",
            "tls_ca": self.root / "ca.pem",
        }

    def context(self, cn: str) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        self._certs[cn].configure_cert(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("rbac-pki"))


Connect = Callable[[str], httpx.Client]


@pytest.fixture
def tls_server(server_factory: ServerFactory, pki: PKI) -> Callable[..., AuditorTestServer]:
    def make(**options: Any) -> AuditorTestServer:
        return server_factory(**pki.server_options(), **options)

    return make


@pytest.fixture
def connect(pki: PKI) -> Iterator[Callable[[AuditorTestServer, str], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: AuditorTestServer, cn: str) -> httpx.Client:
        assert server.tls_url is not None
        client = httpx.Client(base_url=server.tls_url, verify=pki.context(cn), timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def forbidden(response: httpx.Response, body: bytes = INSUFFICIENT) -> bool:
    return (
        response.status_code == 403
        and response.content == body
        and response.headers["content-type"] == TEXT
    )


# -- which flags enforce it (§8.4) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rbac", "ignore", "expected"),
    [
        # enforce_rbac alone: AUDITOR 0.11's middleware reads ignore_record_exists_error.
        (ROLES, False, "open"),
        (ROLES, True, "enforced"),
        (RbacConfig(enforce_rbac=False, read_access_cn=["apel.plugin"]), True, "no enforcer"),
        (None, True, "no enforcer"),
        (None, False, "open"),
    ],
)
def test_which_flags_enforce_rbac(
    tls_server: Callable[..., AuditorTestServer],
    connect: Callable[[AuditorTestServer, str], httpx.Client],
    rbac: RbacConfig | None,
    ignore: bool,
    expected: str,
) -> None:
    server = tls_server(rbac=rbac, ignore_record_exists_error=ignore)
    response = connect(server, "nobody").get("/records")
    if expected == "open":
        assert response.status_code == 200
    elif expected == "enforced":
        assert forbidden(response)
    else:
        assert response.status_code == 500
        assert response.content == b"Enforcer not initialized"
        assert response.headers["content-type"] == TEXT
    # The plain listener never runs RBAC (its scheme is http).
    assert httpx.get(server.url + "/records").status_code == 200


def test_the_intended_flag_can_be_chosen(
    tls_server: Callable[..., AuditorTestServer],
    connect: Callable[[AuditorTestServer, str], httpx.Client],
) -> None:
    server = tls_server(rbac=ROLES, rbac_enforced_by="enforce_rbac")
    assert forbidden(connect(server, "nobody").get("/records"))
    assert connect(server, "apel.plugin").get("/records").status_code == 200
    assert server.rbac is ROLES
    # ...and then the ignore flag only does what its name says.
    server.ignore_record_exists_error = True
    writer = connect(server, "htcondor.collector")
    assert writer.post("/record", json=record("a")).status_code == 200
    assert writer.post("/record", json=record("a")).json()["warning"]


def test_rbac_needs_tls_and_a_valid_flag_name(server_factory: ServerFactory) -> None:
    with pytest.raises(ValueError, match="rbac needs TLS"):
        server_factory(rbac=ROLES)
    with pytest.raises(ValueError, match="rbac_enforced_by"):
        AuditorTestServer(rbac_enforced_by="always")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rbac must be an RbacConfig"):
        AuditorTestServer(rbac={"read_access_cn": ["x"]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base policy"):
        RbacConfig(base_policies=[("role", "/records")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequence of str"):
        RbacConfig(read_access_cn="apel.plugin")


# -- roles and paths (§8.2, §8.3) -------------------------------------------------------------


@pytest.fixture
def enforced(tls_server: Callable[..., AuditorTestServer]) -> AuditorTestServer:
    server = tls_server(rbac=ROLES, ignore_record_exists_error=True)
    for name, sites in [("s1", ["site1"]), ("s2", ["site2"]), ("s12", ["site1", "site2"])]:
        httpx.post(server.url + "/record", json=record(name, meta={"site_id": sites}))
    httpx.post(server.url + "/record", json=record("s3", meta={"site_id": ["site3"]}))
    httpx.post(server.url + "/record", json=record("none", meta=None))
    return server


def test_roles_decide_per_path_and_method(
    enforced: AuditorTestServer, connect: Callable[[AuditorTestServer, str], httpx.Client]
) -> None:
    writer = connect(enforced, "htcondor.collector")
    reader = connect(enforced, "apel.plugin")
    monitor = connect(enforced, "monitoring.role")
    assert writer.post("/record", json=record("w1")).status_code == 200
    assert writer.post("/records", json=[record("w2")]).status_code == 200
    update = {**record("w1"), "stop_time": "2022-06-27T16:00:00Z"}
    assert writer.put("/record", json=update).status_code == 200
    assert forbidden(writer.get("/records"))
    assert forbidden(writer.get("/record/w1"))
    assert forbidden(writer.get("/metrics"))
    assert reader.get("/records").status_code == 200
    assert reader.get("/record/w1").json()["record_id"] == "w1"
    assert forbidden(reader.post("/record", json=record("r1")))
    assert forbidden(monitor.get("/records"))
    assert monitor.get("/metrics").status_code == 200
    # A certificate without a CN is the subject "missing", which has no role.
    assert forbidden(connect(enforced, "").get("/records"))
    assert enforced.record("r1") is None


def test_health_check_and_unknown_paths_are_403_for_everybody(
    enforced: AuditorTestServer, connect: Callable[[AuditorTestServer, str], httpx.Client]
) -> None:
    for cn in ("htcondor.collector", "apel.plugin", "monitoring.role"):
        client = connect(enforced, cn)
        # The policies say /healthcheck, the route is /health_check.
        assert forbidden(client.get("/health_check"))
        # RBAC runs before routing: an unknown path is 403, not 404.
        assert forbidden(client.get("/nowhere"))
    # Writers and readers may GET /healthcheck, which is no route.
    response = connect(enforced, "apel.plugin").get("/healthcheck")
    assert (response.status_code, response.content) == (404, NOT_FOUND)
    assert forbidden(connect(enforced, "monitoring.role").get("/healthcheck"))
    # ...except for roles whose pattern matches: /record/* covers an empty id.
    response = connect(enforced, "apel.plugin").get("/record/")
    assert (response.status_code, response.content) == (404, NOT_FOUND)
    assert httpx.get(enforced.url + "/health_check").status_code == 200


def test_the_scheme_comes_from_client_headers(
    enforced: AuditorTestServer, connect: Callable[[AuditorTestServer, str], httpx.Client]
) -> None:
    nobody = connect(enforced, "nobody")
    assert nobody.get("/records", headers={"X-Forwarded-Proto": "http"}).status_code == 200
    assert nobody.get("/records", headers={"Forwarded": "for=1.2.3.4;proto=http"}).is_success
    # Forwarded wins over X-Forwarded-Proto.
    both = {"Forwarded": 'proto="https"', "X-Forwarded-Proto": "http"}
    assert forbidden(nobody.get("/records", headers=both))
    # On the plain listener a header saying https turns RBAC on, without a certificate.
    plain = httpx.get(enforced.url + "/records", headers={"X-Forwarded-Proto": "HTTPS, http"})
    assert forbidden(plain)
    assert httpx.get(enforced.url + "/records").status_code == 200


def test_base_policies_and_roles_can_be_replaced(
    tls_server: Callable[..., AuditorTestServer],
    connect: Callable[[AuditorTestServer, str], httpx.Client],
) -> None:
    config = RbacConfig(
        base_policies=[("nobody", "/health_check", "GET"), ("reader", "/record*", "GET")],
        read_access_cn=["apel.plugin"],
    )
    server = tls_server(rbac=config, rbac_enforced_by="enforce_rbac")
    assert connect(server, "nobody").get("/health_check").status_code == 200
    assert forbidden(connect(server, "nobody").get("/records"))
    assert forbidden(connect(server, "apel.plugin").get("/records"))  # its role has no policy


# -- meta policies (§8.3, §8.4, §7.4) ---------------------------------------------------------


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.content
    text = response.text
    decoder = __import__("json").JSONDecoder()
    found, index = [], 0
    while index < len(text):
        obj, index = decoder.raw_decode(text, index)
        found.append(obj["record_id"])
    return sorted(found)


def test_meta_policies_restrict_every_reader(
    enforced: AuditorTestServer, connect: Callable[[AuditorTestServer, str], httpx.Client]
) -> None:
    reader = connect(enforced, "site.reader")
    # Without a meta filter every allowed value is injected as `c`, ANDed: a reader allowed
    # two sites only sees the records holding both.
    assert ids(reader.get("/records")) == ["s12"]
    # Meta policies are global: another reader is restricted the same way.
    assert ids(connect(enforced, "apel.plugin").get("/records")) == ["s12"]
    # One allowed value asked for: only that filter applies.
    assert ids(reader.get("/records?meta[site_id][c][0]=site1")) == ["s1", "s12"]
    # A value outside the policies.
    assert forbidden(reader.get("/records?meta[site_id][c][0]=site3"), DENIED)
    assert forbidden(reader.get("/records?meta[group][dnc][0]=x"), DENIED)
    # A dnc lifts the restriction as long as an allowed value remains: site3 shows up.
    assert ids(reader.get("/records?meta[site_id][dnc][0]=site1")) == ["s2", "s3"]
    # A dnc of every allowed value is AUDITOR's 500.
    response = reader.get("/records?meta[site_id][dnc][0]=site1&meta[site_id][dnc][1]=site2")
    assert response.status_code == 500
    assert response.json() == {"error": "Permission denied to access the site with the meta_id"}
    # The meta check runs on every path, before the path check.
    assert forbidden(
        connect(enforced, "htcondor.collector").get("/metrics?meta[a][c][0]=b"), DENIED
    )


def dropped(client: httpx.Client, target: str) -> bool:
    try:
        client.get(target)
    except httpx.RemoteProtocolError as error:
        return "without sending a response" in str(error) or "disconnected" in str(error)
    return False


@pytest.mark.parametrize(
    "query",
    [
        "meta[site_id][c]=site1",  # the pre-0.10 syntax: not a list
        "limit=1&limit=2",  # a repeated key
        "meta[site_id][c][0]=%FF",  # invalid UTF-8
        "meta=x",  # a flat value for a map
    ],
)
def test_an_unparseable_query_under_rbac_drops_the_connection(
    enforced: AuditorTestServer,
    connect: Callable[[AuditorTestServer, str], httpx.Client],
    query: str,
) -> None:
    # AUDITOR's middleware unwraps serde_qs's result: the worker panics, nothing is answered,
    # whatever the path and the certificate.
    assert dropped(connect(enforced, "apel.plugin"), "/records?" + query)
    assert dropped(connect(enforced, "htcondor.collector"), "/record?" + query)
    entry = enforced.requests[-1]
    assert (entry.status, entry.fault, entry.tls) == (None, None, True)
    # Without RBAC the same query is an ordinary 400.
    assert httpx.get(enforced.url + "/records?" + query).status_code == 400


def test_an_unknown_meta_key_in_meta_filtering_drops_the_connection(
    tls_server: Callable[..., AuditorTestServer],
    connect: Callable[[AuditorTestServer, str], httpx.Client],
) -> None:
    # A policy key with casbin's wildcard lets "site_id" through the middleware, but the
    # route then looks "site_id" up among the policy keys and panics (`expect`).
    rules = [DataAccessRule("apel.plugin", {"site*": ["site1"]})]
    server = tls_server(rbac=RbacConfig(data_access_rules=rules), ignore_record_exists_error=True)
    httpx.post(server.url + "/record", json=record("s1", meta={"site_id": ["site1"]}))
    reader = connect(server, "apel.plugin")
    assert dropped(reader, "/records?meta[site_id][c][0]=site1")
    assert dropped(reader, "/records?meta[site_id][dnc][0]=site1")
    assert server.requests[-1].status is None
    # The wildcard key itself is known: the injected filter asks for key "site*".
    assert ids(reader.get("/records")) == []
    assert ids(reader.get("/records?meta[site*][c][0]=site1")) == []
    # casbin-rs slices the requested key at the wildcard's byte offset: inside a multi-byte
    # character, Rust panics too.
    assert dropped(reader, "/records?meta[sit%C3%A9][c][0]=site1")


def test_meta_filtering_refuses_a_value_casbin_allowed(
    tls_server: Callable[..., AuditorTestServer],
    connect: Callable[[AuditorTestServer, str], httpx.Client],
) -> None:
    # "meta" as a CN with a reader role makes casbin allow ("meta", "/records", "GET"): the
    # middleware passes a value the route then finds outside the allowed list.
    config = RbacConfig(
        read_access_cn=["meta"],
        data_access_rules=[DataAccessRule("apel.plugin", {"/records": ["x"]})],
    )
    server = tls_server(rbac=config, ignore_record_exists_error=True)
    response = connect(server, "apel.plugin").get("/records?meta[/records][c][0]=GET")
    assert response.status_code == 500
    assert response.json() == {
        "error": "Permission denied to access the site with the meta_id /records"
    }


def test_openapi_yaml_documents_the_403s_and_the_dropped_connections() -> None:
    spec = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text("utf-8"))
    assert spec["info"]["version"] == "0.11.0"
    forbidden_examples = spec["components"]["responses"]["Forbidden"]["content"]["text/plain"]
    assert {e["value"] for e in forbidden_examples["examples"].values()} == {
        INSUFFICIENT.decode(),
        DENIED.decode(),
    }
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            assert operation["responses"]["403"] == {"$ref": "#/components/responses/Forbidden"}, (
                where
            )
            dropped = operation["x-auditor-dropped-connection"]
            assert any("cannot parse" in case for case in dropped), where
    query = spec["paths"]["/records"]["get"]["x-auditor-dropped-connection"]
    assert any("meta_id does not exist" in case for case in query)
