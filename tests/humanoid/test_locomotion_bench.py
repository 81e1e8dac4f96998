"""The benchmark's dict is JSON-able and its walking numbers are deterministic per seed."""

from __future__ import annotations

import json

from planning.locomotion_bench import run


def test_bench_result_is_json_and_deterministic():
    a = run(seeds=(0,), steps=60, inference_calls=50)
    b = run(seeds=(0,), steps=60, inference_calls=50)
    json.dumps(a)
    assert set(a["locomotion_ms"]) >= {"p50", "p99"} and a["locomotion_ms"]["p50"] > 0
    assert a["steps"] == 60 and a["speed_mps"] > 0
    for key in ("distance_m", "targets_reached", "falls", "min_torso_z"):
        assert a["runs"][0][key] == b["runs"][0][key]
