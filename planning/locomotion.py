"""Humanoid locomotion: the pretrained pybullet flag-run policy on ONNX Runtime, and its observation.

The policy (exported by `python -m planning.locomotion_export`) maps a 44-value observation to 17 joint
torque commands. It knows nothing of maps or obstacles: a target point enters only through the bearing
in obs[1:3], so the stack steers the humanoid by moving that point (e.g. along the planned path).

Observation, as the original environment builds it (pybullet_envs WalkerBase.calc_state, checked against
it step by step):

    obs[0]      torso z - 0.8
    obs[1:3]    sin, cos of (bearing from the body position to the target - torso yaw)
    obs[3:6]    0.3 * torso linear velocity rotated by -yaw (x forward, y left, z up)
    obs[6:8]    torso roll, pitch
    obs[8:42]   per joint in action order: position scaled to [-1, 1] within its limits, 0.1 * velocity
    obs[42:44]  right, left foot touching the floor, as of the *previous* control period
    clipped to [-5, 5], float32.

"Body position" is the mean x, y of all body parts (Proprioception.parts_mean_xy), not the torso origin.
The original's parts dictionary also holds the floor (a body part at the world origin), which pulls its
body position 1/31 of the way towards the origin; harmless on its 26 m training field, wrong in a large
world. ObservationBuilder(floor_part=True) reproduces it (bit for bit: the observation then equals the
original's over whole episodes, checked with a stubbed gym); the default uses the robot's 30 parts only.
The one-period lag of the foot contacts exists because the original environment updates them after
building the observation; the policy was trained with it, so ObservationBuilder keeps it.

Pure numpy + onnxruntime: no pybullet here.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from contracts.errors import ModelFileError
from contracts.messages import Proprioception

OBS_DIM = 44
ACT_DIM = 17
N_FEET = 2
INITIAL_Z = 0.8  # the environment's reference torso height for obs[0]
VELOCITY_SCALE = 0.3
JOINT_SPEED_SCALE = 0.1
OBS_CLIP = 5.0
N_BODY_PARTS = 30  # torso + 29 links of humanoid_symmetric.xml


def default_model_path() -> Path:
    from planning.locomotion_export import DEFAULT_MODEL_PATH

    return DEFAULT_MODEL_PATH


def build_observation(proprio: Proprioception, target_xy, foot_contact) -> np.ndarray:
    """The policy's 44-value observation (float32) from a body state, a target point (world x, y) and the
    foot contacts to report (the caller supplies the lagged ones; see ObservationBuilder)."""
    if len(proprio.joint_pos) != ACT_DIM:
        raise ValueError(f"the policy needs {ACT_DIM} joints in action order, got {len(proprio.joint_pos)}")
    tx, ty = (float(v) for v in target_xy)
    if not (math.isfinite(tx) and math.isfinite(ty)):
        raise ValueError(f"target must be finite, got {target_xy}")
    contact = np.asarray(foot_contact, dtype=np.float32)
    if contact.shape != (N_FEET,):
        raise ValueError(f"foot_contact must have shape ({N_FEET},), got {contact.shape}")

    bx, by = (float(v) for v in proprio.parts_mean_xy)
    z = float(proprio.torso_xyz[2])
    roll, pitch, yaw = (float(v) for v in proprio.torso_rpy)
    angle_to_target = math.atan2(ty - by, tx - bx) - yaw
    # world velocity seen from a frame turned by yaw only (roll and pitch are reported separately)
    c, s = math.cos(-yaw), math.sin(-yaw)
    vwx, vwy, vwz = (float(v) for v in proprio.torso_lin_vel)
    vx, vy = c * vwx - s * vwy, s * vwx + c * vwy
    more = np.array(
        [
            z - INITIAL_Z,
            math.sin(angle_to_target),
            math.cos(angle_to_target),
            VELOCITY_SCALE * vx,
            VELOCITY_SCALE * vy,
            VELOCITY_SCALE * vwz,
            roll,
            pitch,
        ],
        dtype=np.float32,
    )
    lo = np.asarray(proprio.joint_lower, dtype=np.float64)
    hi = np.asarray(proprio.joint_upper, dtype=np.float64)
    joints = np.empty(2 * ACT_DIM, dtype=np.float32)
    joints[0::2] = 2.0 * (np.asarray(proprio.joint_pos, dtype=np.float64) - 0.5 * (lo + hi)) / (hi - lo)
    joints[1::2] = JOINT_SPEED_SCALE * np.asarray(proprio.joint_vel, dtype=np.float64)
    obs = np.concatenate([more, joints, contact])
    if not np.all(np.isfinite(obs)):
        raise ValueError(f"observation is not finite (body state diverged?): {obs}")
    return np.clip(obs, -OBS_CLIP, OBS_CLIP)


class ObservationBuilder:
    """build_observation with the original's one-period lag of the foot contacts: the observation of
    period k reports the contacts read at period k-1 (zeros at the first period after reset()).
    floor_part=True: count the original's floor part at the world origin in the body position."""

    def __init__(self, floor_part: bool = False) -> None:
        self.floor_part = bool(floor_part)
        self._lagged_contact = np.zeros(N_FEET, dtype=np.float32)

    def reset(self) -> None:
        self._lagged_contact[:] = 0.0

    def build(self, proprio: Proprioception, target_xy) -> np.ndarray:
        if self.floor_part:
            shrunk = np.asarray(proprio.parts_mean_xy) * (N_BODY_PARTS / (N_BODY_PARTS + 1))
            proprio = dataclasses.replace(proprio, parts_mean_xy=shrunk)
        obs = build_observation(proprio, target_xy, self._lagged_contact)
        self._lagged_contact = np.asarray(proprio.foot_contact, dtype=np.float32).copy()
        return obs


class LocomotionPolicy:
    """One onnxruntime session of the exported policy. act() returns the raw network output (the body
    clips it to [-1, 1] when it turns it into torques). Single observations go through pre-bound
    input/output buffers, which halves the per-call overhead for this tiny network."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 1):
        import onnxruntime as ort

        from perception.inference import load_session

        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            if model_path is not None:
                raise ModelFileError(f"locomotion model {path} does not exist")
            path = self._generate_default(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as perception/inference.py
        self.model_path = path
        self.session = load_session(path, opts)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].shape[-1] != OBS_DIM or outputs[0].shape[-1] != ACT_DIM:
            raise ModelFileError(
                f"{path} is not the locomotion policy: inputs {[(i.name, i.shape) for i in inputs]}, "
                f"outputs {[(o.name, o.shape) for o in outputs]}"
            )
        self._in_name, self._out_name = inputs[0].name, outputs[0].name
        self._obs = np.zeros((1, OBS_DIM), dtype=np.float32)
        self._act = np.zeros((1, ACT_DIM), dtype=np.float32)
        self._binding = self.session.io_binding()
        self._binding.bind_cpu_input(self._in_name, self._obs)
        self._binding.bind_output(
            self._out_name,
            "cpu",
            element_type=np.float32,
            shape=self._act.shape,
            buffer_ptr=self._act.ctypes.data,
        )

    @staticmethod
    def _generate_default(path: Path) -> Path:
        """The model is generated at set-up (make install); regenerate it here if that was skipped."""
        try:
            from planning.locomotion_export import export

            return export(path)
        except (ImportError, OSError, ValueError) as e:
            raise ModelFileError(
                f"locomotion model {path} is missing and could not be generated ({e}); "
                "run `python -m planning.locomotion_export` (needs the onnx package and pybullet)"
            ) from e

    def act(self, obs: np.ndarray) -> np.ndarray:
        """obs (44,) → action (17,), or obs (N, 44) → (N, 17); float32."""
        x = np.asarray(obs, dtype=np.float32)
        if x.shape[-1:] != (OBS_DIM,) or x.ndim not in (1, 2):
            raise ValueError(f"observation must have shape ({OBS_DIM},) or (N, {OBS_DIM}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("observation must be finite")
        if x.ndim == 2:
            return self.session.run([self._out_name], {self._in_name: x})[0]
        self._obs[0] = x
        self.session.run_with_iobinding(self._binding)
        return self._act[0].copy()


class LocomotionController:
    """What the locomotion node runs each control period: body state + target → 17 actions."""

    def __init__(self, policy: LocomotionPolicy | None = None, floor_part: bool = False):
        self.policy = policy if policy is not None else LocomotionPolicy()
        self.observations = ObservationBuilder(floor_part)

    def reset(self) -> None:
        self.observations.reset()

    def step(self, proprio: Proprioception, target_xy) -> np.ndarray:
        return self.policy.act(self.observations.build(proprio, target_xy))


__all__ = [
    "ACT_DIM",
    "OBS_DIM",
    "LocomotionController",
    "LocomotionPolicy",
    "ObservationBuilder",
    "build_observation",
]
