"""The simulation time grid. Every stamp in fleetpilot is an integer number of nanoseconds on it.

The humanoid's locomotion policy was trained with 0.0165 s control periods of 4 physics substeps, so
the physics step is 0.0165 / 4 s = 4.125 ms (about 1/242 s) and the car world uses the same grid, so
both robots can share one world. Integer nanoseconds keep stamps exact across processes (lockstep
matches answers to frames by stamp equality).
"""

PHYSICS_DT_NS = 4_125_000
PHYSICS_DT = PHYSICS_DT_NS * 1e-9
SUBSTEPS_PER_CONTROL = 4
CONTROL_PERIOD_NS = PHYSICS_DT_NS * SUBSTEPS_PER_CONTROL  # 16.5 ms
CONTROL_PERIOD = CONTROL_PERIOD_NS * 1e-9
# Camera every 3 control periods: 49.5 ms, 20.2 Hz. Odometry and IMU every control period (60.6 Hz,
# the "50 Hz" rounded onto the physics grid) so that every camera stamp has an odometry
# sample with the same stamp; nodes synchronise on exact stamps, which keeps lockstep deterministic.
CAMERA_EVERY_CONTROL_PERIODS = 3
CAMERA_PERIOD_NS = CONTROL_PERIOD_NS * CAMERA_EVERY_CONTROL_PERIODS


def ns_to_s(ns: int) -> float:
    return ns * 1e-9
