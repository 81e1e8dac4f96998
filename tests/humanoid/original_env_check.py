"""Run pybullet's original HumanoidFlagrunHarderBulletEnv (gym replaced by a tiny stub) next to
fleetpilot's humanoid and print a JSON comparison. Used by test_against_original.py in a subprocess,
so that the stub and pybullet_envs never enter the test process. Not used at run time.

    python tests/humanoid/original_env_check.py STUB_DIR SEED STEPS
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

STUB = {
    "gym/__init__.py": "from . import spaces, utils, envs\n__version__ = '0.21.0'\nclass Env: pass\n",
    "gym/spaces.py": (
        "import numpy as np\nclass Box:\n    def __init__(self, low, high, dtype=None):\n"
        "        self.low, self.high, self.shape = low, high, np.shape(low)\n"
    ),
    "gym/utils/__init__.py": "from . import seeding\n",
    "gym/utils/seeding.py": (
        "import numpy as np\ndef np_random(seed=None):\n    return np.random.RandomState(seed), seed\n"
    ),
    "gym/envs/__init__.py": "from . import registration\n",
    "gym/envs/registration.py": (
        "class _R: env_specs = {}\nregistry = _R()\ndef register(*a, **k): pass\n"
        "def make(*a, **k): raise NotImplementedError\ndef spec(*a, **k): raise NotImplementedError\n"
    ),
}


def write_stub(root: str) -> None:
    for rel, text in STUB.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def main(stub_dir: str, seed: int, steps: int) -> dict:
    write_stub(stub_dir)
    sys.path.insert(0, stub_dir)
    import numpy as np
    import pybullet as p
    import pybullet_data

    site = os.path.dirname(importlib.util.find_spec("pybullet").origin)
    sys.path.insert(0, os.path.join(site, "pybullet_envs"))  # its modules import each other top-level
    from pybullet_envs.gym_locomotion_envs import HumanoidFlagrunHarderBulletEnv

    from planning.locomotion import ObservationBuilder
    from planning.locomotion_export import read_policy_source
    from sim.humanoid import JOINT_INDICES, HumanoidBody

    weights = read_policy_source()
    env = HumanoidFlagrunHarderBulletEnv()
    env.seed(seed)
    obs = env.reset()
    robot = env.robot
    c = env._p._client
    bid = robot.robot_body.bodies[0]

    # fleetpilot's sensing, attached to the original's body
    reader = HumanoidBody.__new__(HumanoidBody)
    reader.client, reader.body_id = c, bid
    reader.floor_ids = frozenset(env.stadium_scene.ground_plane_mjcf)
    reader.n_links = p.getNumJoints(bid, physicsClientId=c)
    reader._all_links = list(range(reader.n_links))
    info = [p.getJointInfo(bid, j, physicsClientId=c) for j in JOINT_INDICES]
    reader.joint_lower = np.array([i[8] for i in info])
    reader.joint_upper = np.array([i[9] for i in info])
    builder_floor, builder_plain = ObservationBuilder(floor_part=True), ObservationBuilder()

    # fleetpilot's body in its own world, started in the original's start state
    c2 = p.connect(p.DIRECT)
    p.setGravity(0, 0, -9.8, physicsClientId=c2)  # the original's gravity, for a bitwise comparison
    plane = p.loadSDF(os.path.join(pybullet_data.getDataPath(), "plane_stadium.sdf"), physicsClientId=c2)[0]
    mine = HumanoidBody(c2, [plane], rng=np.random.default_rng(0))
    pos, orn = p.getBasePositionAndOrientation(bid, physicsClientId=c)
    p.resetBasePositionAndOrientation(mine.body_id, pos, orn, physicsClientId=c2)
    for j in range(reader.n_links):
        q, v = p.getJointState(bid, j, physicsClientId=c)[:2]
        p.resetJointState(mine.body_id, j, q, v, physicsClientId=c2)

    def joint_states(client, body):
        return np.array(
            [x for j in range(reader.n_links) for x in p.getJointState(body, j, physicsClientId=client)[:2]]
        )

    out = {"parts": len(robot.parts), "obs_diff_floor_part": 0.0, "obs_diff_robot_parts": 0.0, "steps": 0}
    dyn_steps = min(steps, 100)  # the original throws a cube at the robot from frame 100 on
    for k in range(steps):
        action = weights.forward(obs)
        obs, _, done, _ = env.step(action)
        target = (robot.walk_target_x, robot.walk_target_y)
        pr = reader.proprioception(0)
        out["obs_diff_floor_part"] = max(
            out["obs_diff_floor_part"], float(np.abs(builder_floor.build(pr, target) - obs).max())
        )
        out["obs_diff_robot_parts"] = max(
            out["obs_diff_robot_parts"], float(np.abs(builder_plain.build(pr, target) - obs).max())
        )
        if k < dyn_steps:
            mine.set_action(action)
            mine.step_control_period()
            out["dynamics_diff"] = float(np.abs(joint_states(c, bid) - joint_states(c2, mine.body_id)).max())
        out["steps"] = k + 1
        if done:
            break
    out["dynamics_steps"] = dyn_steps
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
