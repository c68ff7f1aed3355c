"""The HTTP details both clients depend on before any real call works.

These are raw requests (no client library) that pin down what the clients
were seen to need: the version documents, the microversion headers, HTTP 406
on an unsupported version, the error body format, and a few request shapes
(trailing slashes, capitalised booleans, auth headers sent with auth_type
none).  See /work/notes/client-requests.md for where each comes from.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

MIN_H = "X-OpenStack-Ironic-API-Minimum-Version"
MAX_H = "X-OpenStack-Ironic-API-Maximum-Version"
VER_H = "X-OpenStack-Ironic-API-Version"


def _request(server, method: str, path: str, headers: dict | None = None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + path, method=method, data=data,
                                 headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, resp.headers, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, e.headers, parsed


def _v(s: str) -> tuple[int, int]:
    major, minor = s.split(".")
    return int(major), int(minor)


@pytest.fixture(scope="module")
def version_range(ironic_server) -> tuple[str, str]:
    status, _, root = _request(ironic_server, "GET", "/")
    assert status == 200
    [v1] = [v for v in root["versions"] if v["id"] == "v1"]
    return v1["min_version"], v1["version"]


def test_root_document(ironic_server):
    status, headers, root = _request(ironic_server, "GET", "/")
    assert status == 200
    assert "application/json" in headers["Content-Type"]
    assert root["name"] == "OpenStack Ironic API"
    # keystoneauth (openstacksdk) reads `versions`; each needs a self link.
    versions = root["versions"]
    assert isinstance(versions, list) and len(versions) == 1, versions
    v1 = versions[0]
    assert v1["id"] == "v1"
    assert v1["status"] == "CURRENT"
    assert v1["min_version"] == "1.1"
    assert _v(v1["version"]) >= (1, 46), v1  # nova needs 1.46
    assert any(link["rel"] == "self" and link["href"].rstrip("/").endswith("/v1")
               for link in v1["links"]), v1["links"]
    assert root["default_version"] == v1


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_v1_document(ironic_server, version_range, path):
    """ironicclient GETs /v1 (after a 406) and reads only the headers;
    openstacksdk GETs /v1/ during discovery and fails if it is not 200."""
    lo, hi = version_range
    status, headers, doc = _request(ironic_server, "GET", path)
    assert status == 200
    assert headers[MIN_H] == lo
    assert headers[MAX_H] == hi
    assert doc["id"] == "v1"
    assert doc["version"]["min_version"] == lo
    assert doc["version"]["version"] == hi
    for collection in ("nodes", "ports", "chassis", "drivers"):
        assert doc[collection], collection


def test_default_version_is_minimum(ironic_server, version_range):
    status, headers, _ = _request(ironic_server, "GET", "/v1/nodes")
    assert status == 200
    assert headers[VER_H] == version_range[0]
    assert headers[MIN_H] == version_range[0]
    assert headers[MAX_H] == version_range[1]


@pytest.mark.parametrize("header", ["legacy", "new"])
def test_requested_version_is_echoed(ironic_server, header):
    headers = ({VER_H: "1.46"} if header == "legacy"
               else {"OpenStack-API-Version": "baremetal 1.46"})
    status, resp_headers, _ = _request(ironic_server, "GET", "/v1/nodes", headers)
    assert status == 200
    assert resp_headers[VER_H] == "1.46"


def test_latest_means_maximum(ironic_server, version_range):
    status, headers, _ = _request(ironic_server, "GET", "/v1/nodes", {VER_H: "latest"})
    assert status == 200
    assert headers[VER_H] == version_range[1]


def test_unsupported_version_is_406(ironic_server, version_range):
    """ironicclient asks for 1.115 first and negotiates down only on 406."""
    lo, hi = version_range
    too_new = "1.%d" % (_v(hi)[1] + 1)
    status, headers, body = _request(ironic_server, "GET", "/v1/nodes", {VER_H: too_new})
    assert status == 406
    assert headers[MIN_H] == lo
    assert headers[MAX_H] == hi
    # Ironic's error format: error_message is a *string* holding JSON.
    assert isinstance(body["error_message"], str), body
    fault = json.loads(body["error_message"])
    assert fault["faultstring"], fault
    assert "debuginfo" in fault
    status, _, _ = _request(ironic_server, "GET", "/v1/nodes", {VER_H: "2.1"})
    assert status == 406
    status, _, _ = _request(ironic_server, "GET", "/v1/nodes", {VER_H: "1.0"})
    assert status == 406


def test_error_body_format(ironic_server):
    status, headers, body = _request(ironic_server, "GET", "/v1/nodes/no-such-node",
                                     {VER_H: "1.46"})
    assert status == 404
    assert "application/json" in headers["Content-Type"]
    fault = json.loads(body["error_message"])
    assert "could not be found" in fault["faultstring"]


def test_request_shapes_the_clients_send(ironic_server):
    """Quirks seen on the wire: a trailing slash before the query string,
    Python-style capitalised booleans, a dummy token, an octet-stream
    Content-Type on body-less DELETEs."""
    hdr = {VER_H: "1.46", "X-Auth-Token": "notused"}
    status, _, node = _request(ironic_server, "POST", "/v1/nodes", hdr,
                               {"driver": "fake-hardware", "name": "raw-node"})
    assert status == 201, node
    assert node["provision_state"] == "enroll"
    for query in ("/v1/nodes/?associated=False", "/v1/nodes?associated=false",
                  "/v1/nodes/?maintenance=False&provision_state=enroll",
                  "/v1/nodes/?fields=uuid,name", "/v1/nodes?fields=uuid%2Cname"):
        status, _, listed = _request(ironic_server, "GET", query, hdr)
        assert status == 200, (query, listed)
        assert node["uuid"] in [n["uuid"] for n in listed["nodes"]], query
    status, _, listed = _request(ironic_server, "GET", "/v1/nodes/?associated=True", hdr)
    assert status == 200 and listed["nodes"] == []
    status, _, listed = _request(ironic_server, "GET", "/v1/nodes/?fields=uuid,name", hdr)
    [mine] = [n for n in listed["nodes"] if n["uuid"] == node["uuid"]]
    assert set(mine) - {"links"} == {"uuid", "name"}
    status, _, body = _request(ironic_server, "DELETE", f"/v1/nodes/{node['uuid']}",
                               {**hdr, "Content-Type": "application/octet-stream",
                                "Accept": "*/*"})
    assert status == 204, body
