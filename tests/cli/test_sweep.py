"""The sweep's verdicts: normal runs pass on success; runs without the cloud (or with a faulty one) pass
on safety alone (0 collisions and the goal or a safe stop), and the summary sums the advice counters."""

from fleetpilot.sweep import _passed, comparable


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
