"""TLS and mutual TLS, with certificates made for the test by the openssl CLI."""

import shutil
import subprocess
import time

import grpc
import pytest
from cloud_helpers import make_config, stalled_request

from cloud_reasoner.auth import auth_metadata
from cloud_reasoner.client import ReasonerClient, TlsOptions
from cloud_reasoner.protos.v1 import reasoner_pb2_grpc
from cloud_reasoner.server import ServerThread
from cloud_reasoner.vehicle_store import VehicleStore

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=fleetpilot-test-ca", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "1", "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d


def start(tmp_path, certs, mutual: bool):
    store = VehicleStore(tmp_path)
    token = store.add_vehicle("car1")
    store.close()
    extra = {"tls_cert_file": certs / "server.pem", "tls_key_file": certs / "server.key"}
    if mutual:
        extra["tls_client_ca_file"] = certs / "ca.pem"
    return ServerThread(make_config(tmp_path, **extra)).start(), token


def call(target, token, credentials):
    with grpc.secure_channel(target, credentials) as ch:
        return reasoner_pb2_grpc.ReasonerStub(ch).Reason(
            stalled_request(), metadata=auth_metadata(token), timeout=5
        )


def test_tls_with_the_ca_works_and_plaintext_does_not(tmp_path, certs):
    srv, token = start(tmp_path, certs, mutual=False)
    try:
        ca = (certs / "ca.pem").read_bytes()
        assert call(srv.target, token, grpc.ssl_channel_credentials(ca)).backend == "deliberative"
        with grpc.insecure_channel(srv.target) as ch, pytest.raises(grpc.RpcError) as info:
            reasoner_pb2_grpc.ReasonerStub(ch).Reason(
                stalled_request(), metadata=auth_metadata(token), timeout=3
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop()


def test_mutual_tls_requires_a_client_certificate(tmp_path, certs):
    srv, token = start(tmp_path, certs, mutual=True)
    try:
        ca = (certs / "ca.pem").read_bytes()
        with pytest.raises(grpc.RpcError):
            call(srv.target, token, grpc.ssl_channel_credentials(ca))
        tls = TlsOptions(
            root_ca=ca,
            client_cert=(certs / "client.pem").read_bytes(),
            client_key=(certs / "client.key").read_bytes(),
        )
        with ReasonerClient(srv.target, token, "car1", tls=tls) as client:
            assert client.submit(stalled_request())
            end = time.monotonic() + 10
            while (advice := client.poll()) is None and time.monotonic() < end:
                time.sleep(0.01)
            assert advice is not None, client.last_error
    finally:
        srv.stop()
