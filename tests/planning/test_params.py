import math

import pytest

from planning.controller import ControllerParams
from planning.params import CAR, HUMANOID, PlannerParams, embodiment_from_dict


def test_planner_params_from_dict_overrides_and_casts():
    p = PlannerParams.from_dict({"horizon_s": 4, "min_gap": 3.0, "speed_samples": 3})
    assert p.horizon_s == 4.0 and isinstance(p.horizon_s, float)
    assert p.min_gap == 3.0 and p.speed_samples == 3


def test_planner_params_reject_unknown_keys_by_name():
    with pytest.raises(ValueError, match="horizon_sec"):
        PlannerParams.from_dict({"horizon_sec": 5.0})


def test_planner_params_reject_bad_values():
    with pytest.raises(ValueError):
        PlannerParams.from_dict({"dt": 0.0})
    with pytest.raises(ValueError, match="number"):
        PlannerParams.from_dict({"min_gap": "far"})


def test_embodiment_from_dict_strict():
    car = embodiment_from_dict(CAR)
    assert car.length == 4.5 and math.isclose(car.max_curvature, math.tan(0.6) / 2.7)
    # 3.5 m/s: what the humanoid's ROS runs always used (the old copy in params.py said 2.5)
    assert embodiment_from_dict(HUMANOID).max_speed == 3.5
    with pytest.raises(ValueError, match="wheel_base"):
        embodiment_from_dict({**CAR, "wheel_base": 2.7})
    with pytest.raises(TypeError):
        embodiment_from_dict({k: v for k, v in CAR.items() if k != "length"})
    with pytest.raises(ValueError, match="max_speed"):
        embodiment_from_dict({**CAR, "max_speed": -1.0})
    with pytest.raises(ValueError, match="can_change_lane"):
        embodiment_from_dict({**CAR, "can_change_lane": "yes"})


def test_controller_params_reject_unknown_keys():
    with pytest.raises(ValueError, match="kp_speed"):
        ControllerParams.from_dict({"kp_speed": 1.0})
    assert ControllerParams.from_dict({"kp": 2}).kp == 2.0
