"""Small simulator runs against a real server process: integrity under malice, churn and kill -9."""

import pytest

from cloud_reasoner.fleet.simulator import SimConfig, simulate


def check(report):
    assert report["end"] == "all_jobs_done"
    assert report["lost_jobs"] == 0
    assert report["double_credited"] == 0
    assert report["wrong_accepted"] == 0
    assert report["jobs_validated"] == report["jobs_total"]


# The kill -9 run uses slower stand-in jobs so that it is surely still running when the kill comes.
@pytest.mark.parametrize(("kill_at", "job_s"), [(None, 0.01), (0.5, 0.03)], ids=["plain", "kill9"])
def test_small_simulation_loses_nothing(tmp_path, kill_at, job_s):
    cfg = SimConfig(
        vehicles=50,
        jobs=500,
        churn=0.2,
        malicious=0.1,
        kill_server_at=kill_at,
        seed=1,
        lease_ttl_s=2.0,
        seconds_per_job=job_s,
        timeout_s=60,
        state_dir=tmp_path,
    )
    report = simulate(cfg)
    check(report)
    assert report["wrong_results_submitted"] > 0  # the liars did lie, and were caught
    assert report["results"]["invalid"] >= report["wrong_results_submitted"] - report["reissues"]
    if kill_at is not None:
        assert report["server_kills"] == 1


def test_status_command_reads_a_simulated_database(tmp_path, capsys):
    from fleetpilot.cli import main

    cfg = SimConfig(vehicles=10, jobs=40, seed=2, seconds_per_job=0.005, timeout_s=60, state_dir=tmp_path)
    report = simulate(cfg)
    check(report)
    assert main(["fleet", "status", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "validated 40" in out and "registered 10" in out and "owner-veh-00000" in out
    assert main(["fleet", "status", "--state-dir", str(tmp_path / "nowhere")]) == 2
