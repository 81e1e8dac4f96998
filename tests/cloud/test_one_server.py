"""One cloud server, every service (issue 24 item 3): `cloud serve` and `fleet serve` are the same
command; both host the Reasoner and the Fleet service with health, reflection, the shared tokens and the
per-call log, configured by the [fleet] section of the config file (no environment variable needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cloud_reasoner.fleet.client import FleetSyncClient
from cloud_reasoner.fleet.jobs import SEGMENT_STATS, JobSpec
from cloud_reasoner.fleet.policy import OptInPolicy, VehicleState
from cloud_reasoner.fleet.service import pb2 as fleet_pb2
from cloud_reasoner.fleet.store import SqliteFleetStore
from cloud_reasoner.protos.v1 import reasoner_pb2
from cloud_reasoner.vehicle_store import VehicleStore

FLEET = fleet_pb2.DESCRIPTOR.services_by_name["Fleet"].full_name
REASONER = reasoner_pb2.DESCRIPTOR.services_by_name["Reasoner"].full_name
LEASE_TTL_S = 42.0  # not the default (600): proves the config file's [fleet] section reached the service
OPTED_IN = OptInPolicy(opted_in=True, only_while_charging=False, min_state_of_charge=0.2)
PARKED = VehicleState(parked=True, charging=True, state_of_charge=0.8, temperature_c=25.0, local_hour=2.0)


def _start(command: list[str], tmp_path: Path) -> tuple[subprocess.Popen, str, Path]:
    state, log, port_file = tmp_path / "state", tmp_path / "calls.jsonl", tmp_path / "port"
    config = tmp_path / "cloud.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:0"\nstate_dir = "{state}"\nlog_file = "{log}"\n'
        f"shutdown_grace_s = 0.0\n\n[fleet]\nlease_ttl_s = {LEASE_TTL_S}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")}
    argv = [sys.executable, "-m", "fleetpilot.cli", *command, "--config", str(config)]
    proc = subprocess.Popen([*argv, "--port-file", str(port_file)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{' '.join(command)} did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    return proc, f"127.0.0.1:{int(port_file.read_text())}", log


def _services(channel: grpc.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {s.name for s in answer.list_services_response.service}


@pytest.mark.parametrize("command", [["cloud", "serve"], ["fleet", "serve"]], ids=" ".join)
def test_every_service_on_one_server_configured_by_the_file(command, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    vehicles = VehicleStore(state)
    token = vehicles.add_vehicle("car1")  # what `fleetpilot cloud add-vehicle car1` does
    vehicles.close()
    store = SqliteFleetStore(state / "fleet.sqlite")  # one queued job, as an operator queues it
    store.add_jobs([(JobSpec("j0", SEGMENT_STATS, store.put_blobs([b"shard"])[0], {}), 1.0)], 0)
    store.close()

    proc, target, log = _start(command, tmp_path)
    try:
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", REASONER, FLEET):
                answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
            assert {REASONER, FLEET} <= _services(channel)

        car = FleetSyncClient(target, "car1", token)
        car.register("alice", OPTED_IN)
        before = time.time_ns()
        (lease,), _ = car.lease(PARKED)
        car.close()
        assert abs((lease.deadline_ns - before) * 1e-9 - LEASE_TTL_S) < 5.0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0  # graceful: the Fleet's sweeper stopped and its store closed with the server
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    logged = {(c.get("method"), c.get("vehicle"), c.get("status")) for c in calls if c.get("msg") == "rpc"}
    assert (f"/{FLEET}/Register", "car1", "OK") in logged
    assert (f"/{FLEET}/LeaseJob", "car1", "OK") in logged


@pytest.mark.parametrize(
    "command, config, message",
    [
        (["fleet", "serve"], "[fleet]\nlease_ttl_s = -1.0\n", "lease_ttl_s"),
        # the Fleet keeps its lease sweeper in one process: several workers need it off
        (["cloud", "serve"], '[server]\nworkers = 2\nlisten = "127.0.0.1:0"\n', "[fleet] enabled = false"),
    ],
    ids=["bad fleet value", "workers with the fleet"],
)
def test_server_settings_errors_are_usage_errors(command, config, message, tmp_path):
    path = tmp_path / "cloud.toml"
    path.write_text(config)
    argv = [sys.executable, "-m", "fleetpilot.cli", *command, "--config", str(path)]
    argv += ["--state-dir", str(tmp_path)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
