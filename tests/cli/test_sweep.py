"""The sweep's verdicts: normal runs pass on success; runs without the cloud (or with a faulty one) pass
on safety alone (0 collisions and the goal or a safe stop), and the summary sums the advice counters."""

from fleetpilot.sweep import _passed, comparable, differing


def test_degraded_runs_pass_on_safety_not_on_reaching_the_goal():
    stopped = {"success": False, "safe_stop": True, "collisions": 0}
    crashed_then_stopped = {"success": False, "safe_stop": True, "collisions": 1}
    stuck_unsafe = {"success": False, "safe_stop": False, "collisions": 0}
    assert not _passed(stopped, degraded=False)
    assert _passed(stopped, degraded=True)
    assert not _passed(crashed_then_stopped, degraded=True)
    assert not _passed(stuck_unsafe, degraded=True)
    assert _passed({"success": True, "collisions": 0}, degraded=True)


def test_determinism_ignores_wall_clock_figures_only():
    a = {"success": True, "wall_time_s": 1.0, "fleet": {"x": 1}, "route_completion": 1.0}
    b = {"success": True, "wall_time_s": 2.0, "fleet": {"x": 2}, "route_completion": 1.0}
    assert comparable(a) == comparable(b)
    assert comparable(a) != comparable({**b, "route_completion": 0.99})


def test_a_nondeterministic_seed_says_where_its_repeats_differ():
    ev = [{"kind": "fall", "t": 1.0}, {"kind": "goal_reached", "t": 5.0}]
    a = {"success": True, "falls": 1, "wall_time_s": 1.0, "events": ev}
    b = {"success": True, "falls": 2, "wall_time_s": 2.0, "events": [ev[0], {"kind": "fall", "t": 4.0}]}
    assert differing([a, b]) == {
        "events": {"first_index": 1, "items": [ev[1], {"kind": "fall", "t": 4.0}]},
        "falls": [1, 2],
    }
    assert differing([a, dict(a, wall_time_s=9.0)]) == {}


def _dies_on_seed_1(name, seed, direct, no_cloud, cloud_fault, model=None):
    """Test double for one scenario run: seed 1's process dies hard (as a segfault would)."""
    import os

    if seed == 1:
        os._exit(139)
    return {"scenario": name, "seed": seed, "success": True, "collisions": 0, "red_light_violations": 0}


def test_a_run_whose_process_dies_fails_alone_and_the_sweep_goes_on(monkeypatch):
    from fleetpilot import sweep as sweep_module

    # runs are forked, so they see the patched runner
    monkeypatch.setattr(sweep_module, "_run_one", _dies_on_seed_1)
    out = sweep_module.sweep(["car_lane_follow"], range(0, 5), jobs=2)
    summary = out["scenarios"]["car_lane_follow"]
    assert summary["failed_seeds"] == [1] and summary["successes"] == 4
    assert "died (exit code 139)" in out["results"]["car_lane_follow:1"]["error"]


def _starts_a_process(name, seed, direct, no_cloud, cloud_fault, model=None):
    """Test double for a run that starts a process of its own, as car_park_and_lend's fleet agent does
    (its job process). In a daemonic sweep child this raised and every such run failed."""
    import multiprocessing as mp

    proc = mp.get_context().Process(target=int)
    proc.start()
    proc.join()
    return {"scenario": name, "seed": seed, "success": proc.exitcode == 0, "collisions": 0}


def test_a_run_may_start_processes_of_its_own(monkeypatch):
    from fleetpilot import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "_run_one", _starts_a_process)
    out = sweep_module.sweep(["car_lane_follow"], range(0, 2), jobs=2)
    assert out["scenarios"]["car_lane_follow"]["successes"] == 2, out["results"]
