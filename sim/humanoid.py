"""The humanoid body: pybullet_data's mjcf/humanoid_symmetric.xml, set up like pybullet's
HumanoidFlagrunHarderBulletEnv so that its pretrained locomotion policy (planning/locomotion.py) works.

What the original environment does, and what this module matches:
- load with URDF_USE_SELF_COLLISION | URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS (limbs collide with
  each other, a link never with its ancestors); loadMJCF returns one body, the torso is its base.
- every joint's default motor off (position control with force 0), then joint torques
  0.41 × gear × clip(a, -1, 1) on 17 hinge joints; the "jointfix_*" joints are fixed.
- physics: 4 substeps of 4.125 ms per 16.5 ms control period (contracts/clock.py), 5 solver iterations,
  default contact ERP 0.9, floor with lateral friction 0.8 and restitution 0.5 (configure_physics,
  configure_floor). Gravity is the world's (9.81 here, 9.8 in the original; immaterial for the policy).
- PyBullet forgets TORQUE_CONTROL forces after every stepSimulation, and the original applied them once
  per 4-substep stepSimulation; so the torques are re-applied before each of our substeps
  (apply_torques), which reproduces the original bit for bit.
- start: torso at (x, y, 1.4) with a yaw, upright, each joint uniform in ±0.1 rad, zero velocities.

Frames: base_link of the humanoid is the torso origin projected on the ground, yawed with the torso;
odometry reports it. The head camera sits on the head sphere, looking forward; by default it is
stabilised in roll and pitch (a neck does that for a human), so perception's flat-ground projection
with the CameraModel's pitch stays valid while the torso sways.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pybullet_data

from contracts import clock
from contracts.messages import CameraModel, Imu, Odometry, Proprioception
from sim._quiet_import import pybullet as p
from sim.camera import make_camera_model

MJCF_FILE = "humanoid_symmetric.xml"
# The 17 actuated hinges in the policy's action order (abdomen z/y/x, right hip x/z/y, right knee,
# left hip x/z/y, left knee, right shoulder 1/2, right elbow, left shoulder 1/2, left elbow).
JOINT_INDICES = (0, 1, 3, 5, 6, 7, 9, 12, 13, 14, 16, 19, 20, 22, 24, 25, 27)
JOINT_NAMES = (
    "abdomen_z",
    "abdomen_y",
    "abdomen_x",
    "right_hip_x",
    "right_hip_z",
    "right_hip_y",
    "right_knee",
    "left_hip_x",
    "left_hip_z",
    "left_hip_y",
    "left_knee",
    "right_shoulder1",
    "right_shoulder2",
    "right_elbow",
    "left_shoulder1",
    "left_shoulder2",
    "left_elbow",
)
GEARS = (100, 100, 100, 100, 100, 300, 200, 100, 100, 300, 200, 75, 75, 75, 75, 75, 75)
POWER = 0.41
FOOT_LINKS = (11, 18)  # right_foot, left_foot
START_Z = 1.4
START_JOINT_SPREAD = 0.1  # rad, uniform ± around 0
FALL_HEIGHT = 0.7  # m, torso below this counts as a fall
# The robot's livery: hi-vis yellow-green trunk, thighs and upper arms, navy shins, feet and forearms.
# Chosen unlike anything else in the worlds (road paint is white or yellow, cones orange, asphalt grey):
# the file's default white made the perception model read the edges of crosswalk stripes as a robot.
# Every world and the perception dataset show the body in this one look (perception/models/MODEL_CARD.md).
LIVERY_HIVIS = (0.62, 0.95, 0.12, 1.0)
LIVERY_DARK = (0.10, 0.15, 0.40, 1.0)
LIVERY_DARK_LINKS = frozenset(
    {"right_shin", "right_foot", "left_shin", "left_foot", "right_lower_arm", "left_lower_arm"}
)
# physics the policy was trained with
SOLVER_ITERATIONS = 5
CONTACT_ERP = 0.9
FLOOR_FRICTION = 0.8
FLOOR_RESTITUTION = 0.5

# Head camera: the head is a 0.09 m sphere 0.19 m above the torso origin. The lens sits at its front.
HEAD_OFFSET = (0.09, 0.0, 0.19)  # torso frame, m
# Measured while walking (2.4 m/s, 1400 policy steps): the lens is at 1.11 m (std 0.05, 0.99-1.23) and the
# torso leans 25 deg forward and rolls 14 +- 10 deg, so the nominal mount height is 1.11 m and the view is
# stabilised (head_camera_pose) rather than rigid on the torso.
HEAD_CAMERA_NOMINAL_Z = 1.11
HEAD_CAMERA_PITCH = math.radians(12.0)  # looks a little further down than the car: it walks slowly


def make_head_camera_model(width: int = 160, height: int = 120) -> CameraModel:
    """The car camera's lens and image (same sensor code), mounted on the humanoid's head. x, z are the
    nominal mount in the humanoid's base_link (torso origin on the ground)."""
    base = make_camera_model(width, height)
    return dataclasses.replace(
        base, x=HEAD_OFFSET[0], y=0.0, z=HEAD_CAMERA_NOMINAL_Z, pitch=HEAD_CAMERA_PITCH
    )


def configure_physics(client: int) -> None:
    """Engine parameters of the policy's training environment. They apply to the whole world (the car
    world's bodies are kinematic, so they are unaffected)."""
    p.setPhysicsEngineParameter(
        fixedTimeStep=clock.PHYSICS_DT,
        numSubSteps=0,
        numSolverIterations=SOLVER_ITERATIONS,
        deterministicOverlappingPairs=1,
        physicsClientId=client,
    )
    p.setDefaultContactERP(CONTACT_ERP, physicsClientId=client)


def configure_floor(client: int, floor_id: int) -> None:
    p.changeDynamics(
        floor_id, -1, lateralFriction=FLOOR_FRICTION, restitution=FLOOR_RESTITUTION, physicsClientId=client
    )


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw))


class HumanoidBody:
    """One humanoid in a PyBullet world. The owner steps the physics; per substep it calls
    apply_torques() before p.stepSimulation (step_control_period does both for standalone use)."""

    def __init__(
        self,
        client: int,
        floor_ids,
        *,
        x: float = 0.0,
        y: float = 0.0,
        yaw: float = 0.0,
        rng: np.random.Generator,
        setup_physics: bool = True,
    ):
        """floor_ids: bodies whose base counts as floor for the foot contacts (the ground plane).
        setup_physics: apply configure_physics / configure_floor (the policy's training physics)."""
        self.client = client
        self.floor_ids = frozenset(int(f) for f in floor_ids)
        if not self.floor_ids:
            raise ValueError("HumanoidBody needs at least one floor body id for its foot contacts")
        if setup_physics:
            configure_physics(client)
            for f in self.floor_ids:
                configure_floor(client, f)
        flags = p.URDF_USE_SELF_COLLISION | p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
        bodies = p.loadMJCF(
            os.path.join(pybullet_data.getDataPath(), "mjcf", MJCF_FILE), flags=flags, physicsClientId=client
        )
        # loadMJCF returns every top-level body of the file; this file has only the humanoid (no floor)
        robots = [b for b in bodies if p.getNumJoints(b, physicsClientId=client) > 0]
        if len(robots) != 1:
            raise RuntimeError(f"{MJCF_FILE}: expected one articulated body, got {len(robots)} of {bodies}")
        self.body_id = robots[0]
        self.extra_body_ids = tuple(b for b in bodies if b != self.body_id)
        b, c = self.body_id, client
        self.n_links = p.getNumJoints(b, physicsClientId=c)
        names = tuple(p.getJointInfo(b, j, physicsClientId=c)[1].decode() for j in JOINT_INDICES)
        if names != JOINT_NAMES:
            raise RuntimeError(f"{MJCF_FILE}: joints {names} do not match the policy's {JOINT_NAMES}")
        info = [p.getJointInfo(b, j, physicsClientId=c) for j in JOINT_INDICES]
        self.joint_lower = np.array([i[8] for i in info], dtype=np.float64)
        self.joint_upper = np.array([i[9] for i in info], dtype=np.float64)
        self.gears = np.asarray(GEARS, dtype=np.float64)
        # default velocity motors off on every joint (as the original's addToScene); torques do the work
        p.setJointMotorControlArray(
            b,
            list(range(self.n_links)),
            p.POSITION_CONTROL,
            positionGains=[0.1] * self.n_links,
            velocityGains=[0.1] * self.n_links,
            forces=[0.0] * self.n_links,
            physicsClientId=c,
        )
        self._paint_livery()
        self._torques = np.zeros(len(JOINT_INDICES))
        self._all_links = list(range(self.n_links))
        self._prev_lin_vel: np.ndarray | None = None
        self.reset(x, y, yaw, rng)

    def _paint_livery(self) -> None:
        c, b = self.client, self.body_id
        for link in range(-1, self.n_links):
            name = "" if link < 0 else p.getJointInfo(b, link, physicsClientId=c)[12].decode()
            rgba = LIVERY_DARK if name in LIVERY_DARK_LINKS else LIVERY_HIVIS
            p.changeVisualShape(b, link, rgbaColor=list(rgba), physicsClientId=c)

    # ---- state ------------------------------------------------------------------------------------
    def reset(self, x: float, y: float, yaw: float, rng: np.random.Generator) -> None:
        """Stand the body up at (x, y) facing yaw, joints uniform in ±0.1 rad (one draw per joint, in
        action order), all velocities zero, torques zero."""
        if not all(math.isfinite(v) for v in (x, y, yaw)):
            raise ValueError(f"start pose must be finite, got {(x, y, yaw)}")
        b, c = self.body_id, self.client
        for j in JOINT_INDICES:
            q = float(rng.uniform(-START_JOINT_SPREAD, START_JOINT_SPREAD))
            p.resetJointState(b, j, targetValue=q, targetVelocity=0.0, physicsClientId=c)
        p.resetBasePositionAndOrientation(b, [x, y, START_Z], _yaw_quat(yaw), physicsClientId=c)
        p.resetBaseVelocity(b, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=c)
        self._torques[:] = 0.0
        self._prev_lin_vel = None

    def set_action(self, action) -> None:
        """Hold torques 0.41 × gear × clip(a, -1, 1) for the coming control period."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (len(JOINT_INDICES),):
            raise ValueError(f"action must have shape ({len(JOINT_INDICES)},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite, got {a}")
        self._torques = POWER * self.gears * np.clip(a, -1.0, 1.0)

    @property
    def held_torques(self) -> np.ndarray:
        """(17,) N·m held for the current control period (a copy)."""
        return self._torques.copy()

    @property
    def max_torques(self) -> np.ndarray:
        """(17,) N·m: the largest torque each motor gives (0.41 × gear, the policy's action ±1)."""
        return POWER * self.gears

    def set_torques(self, effort) -> None:
        """Hold these joint torques (N·m, action order) for the coming control period, each clipped to
        its motor's ±max_torques: what a locomotion node's effort command asks of the body."""
        e = np.asarray(effort, dtype=np.float64)
        if e.shape != (len(JOINT_INDICES),):
            raise ValueError(f"effort must have shape ({len(JOINT_INDICES)},), got {e.shape}")
        if not np.all(np.isfinite(e)):
            raise ValueError(f"effort must be finite, got {e}")
        limit = self.max_torques
        self._torques = np.clip(e, -limit, limit)

    def apply_torques(self) -> None:
        """Call before every physics substep: PyBullet clears torque commands after each step."""
        p.setJointMotorControlArray(
            self.body_id,
            JOINT_INDICES,
            p.TORQUE_CONTROL,
            forces=self._torques.tolist(),
            physicsClientId=self.client,
        )

    def step_control_period(self) -> None:
        """Standalone stepping (a world with nothing else that moves): 4 substeps with the held torques."""
        for _ in range(clock.SUBSTEPS_PER_CONTROL):
            self.apply_torques()
            p.stepSimulation(physicsClientId=self.client)

    # ---- sensing ----------------------------------------------------------------------------------
    def torso_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos, orn = p.getBasePositionAndOrientation(self.body_id, physicsClientId=self.client)
        return np.asarray(pos), np.asarray(orn)

    def torso_height(self) -> float:
        return float(self.torso_pose()[0][2])

    def fallen(self) -> bool:
        return self.torso_height() < FALL_HEIGHT

    def foot_contacts(self) -> np.ndarray:
        """(right, left): 1.0 if the foot link touches a floor body's base, from the last physics step."""
        out = np.zeros(len(FOOT_LINKS))
        for i, link in enumerate(FOOT_LINKS):
            # bodyB=-1: any body; linkIndexB=-1: its base (a floor is a base), as the original asked
            for cp in p.getContactPoints(self.body_id, -1, link, -1, physicsClientId=self.client):
                if cp[2] in self.floor_ids and cp[4] == -1:
                    out[i] = 1.0
                    break
        return out

    def proprioception(self, stamp_ns: int) -> Proprioception:
        b, c = self.body_id, self.client
        states = p.getJointStates(b, JOINT_INDICES, physicsClientId=c)
        pos, orn = p.getBasePositionAndOrientation(b, physicsClientId=c)
        lin, ang = p.getBaseVelocity(b, physicsClientId=c)
        # link centre-of-mass positions as of the last physics step (the original's BodyPart positions);
        # the parts are the torso (base) and all 29 links
        links = p.getLinkStates(b, self._all_links, physicsClientId=c)
        xs = [pos[0]] + [ls[0][0] for ls in links]
        ys = [pos[1]] + [ls[0][1] for ls in links]
        return Proprioception(
            stamp_ns=int(stamp_ns),
            joint_pos=np.array([s[0] for s in states]),
            joint_vel=np.array([s[1] for s in states]),
            joint_lower=self.joint_lower,
            joint_upper=self.joint_upper,
            torso_xyz=np.asarray(pos, dtype=np.float64),
            torso_rpy=np.asarray(p.getEulerFromQuaternion(orn), dtype=np.float64),
            torso_lin_vel=np.asarray(lin, dtype=np.float64),
            torso_ang_vel=np.asarray(ang, dtype=np.float64),
            parts_mean_xy=np.array([np.mean(xs), np.mean(ys)]),
            foot_contact=self.foot_contacts(),
        )

    def odometry(self, stamp_ns: int) -> Odometry:
        """Ground-truth pose of base_link (torso origin on the ground, torso yaw) and its velocity in it."""
        pos, orn = self.torso_pose()
        yaw = p.getEulerFromQuaternion(orn.tolist())[2]
        lin, ang = p.getBaseVelocity(self.body_id, physicsClientId=self.client)
        c, s = math.cos(yaw), math.sin(yaw)
        return Odometry(
            stamp_ns=int(stamp_ns),
            x=float(pos[0]),
            y=float(pos[1]),
            yaw=float(yaw),
            vx=c * lin[0] + s * lin[1],
            vy=-s * lin[0] + c * lin[1],
            yaw_rate=float(ang[2]),
        )

    def imu(self, stamp_ns: int, dt: float = clock.CONTROL_PERIOD, gravity: float = 9.81) -> Imu:
        """Torso IMU in the torso frame: specific force (finite difference of the torso velocity over the
        last call, + gravity; at rest z ≈ +g) and angular rate. Call once per control period."""
        _, orn = self.torso_pose()
        rot = np.asarray(p.getMatrixFromQuaternion(orn.tolist())).reshape(3, 3)  # torso → world
        lin, ang = (np.asarray(v) for v in p.getBaseVelocity(self.body_id, physicsClientId=self.client))
        accel_world = np.zeros(3) if self._prev_lin_vel is None else (lin - self._prev_lin_vel) / dt
        self._prev_lin_vel = lin
        f = rot.T @ (accel_world + np.array([0.0, 0.0, gravity]))
        w = rot.T @ ang
        return Imu(stamp_ns=int(stamp_ns), accel=tuple(float(v) for v in f), gyro=tuple(float(v) for v in w))

    def head_camera_pose(self, model: CameraModel, stabilized: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(eye, rotation camera body → world) for sim.camera.render. The eye is the real lens point on
        the head; stabilized keeps the view level (torso yaw and the model's pitch only), otherwise it
        is rigidly on the torso (roll, pitch and yaw of the torso plus the model's pitch)."""
        from sim.camera import _rot_zyx

        pos, orn = self.torso_pose()
        rot_torso = np.asarray(p.getMatrixFromQuaternion(orn.tolist())).reshape(3, 3)
        eye = pos + rot_torso @ np.array([model.x, model.y, HEAD_OFFSET[2]])
        if stabilized:
            yaw = p.getEulerFromQuaternion(orn.tolist())[2]
            return eye, _rot_zyx(yaw, model.pitch, 0.0)
        return eye, rot_torso @ _rot_zyx(0.0, model.pitch, 0.0)

    def head_camera_jitter(self, model: CameraModel) -> tuple[float, float, float, float, float, float]:
        """The stabilised head pose as sim.camera.camera_pose_world's jitter relative to the nominal mount
        at the odometry pose: (dx, dy, dz in base_link, droll, dpitch, dyaw). Lets a Simulation that
        renders with camera_pose_world(model, odom x, odom y, odom yaw, jitter) show the true head."""
        odom = self.odometry(0)
        eye, _ = self.head_camera_pose(model, stabilized=True)
        c, s = math.cos(odom.yaw), math.sin(odom.yaw)
        ex, ey = eye[0] - odom.x, eye[1] - odom.y
        return (c * ex + s * ey - model.x, -s * ex + c * ey - model.y, float(eye[2]) - model.z, 0.0, 0.0, 0.0)

    def remove(self) -> None:
        for b in (self.body_id, *self.extra_body_ids):
            p.removeBody(b, physicsClientId=self.client)


__all__ = [
    "FALL_HEIGHT",
    "FOOT_LINKS",
    "GEARS",
    "JOINT_INDICES",
    "JOINT_NAMES",
    "HumanoidBody",
    "configure_floor",
    "configure_physics",
    "make_head_camera_model",
]
