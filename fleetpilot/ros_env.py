"""The ROS 2 environment a pip-only install needs, so the installed command works from a clean shell
(only PATH and HOME): where the message packages are indexed, which middleware, loopback discovery.

The ROS 2 wheels install their ament index into this Python's prefix (the venv), which `setup.bash`
would otherwise name in AMENT_PREFIX_PATH; a value the user has set (a sourced distribution) wins.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

# Loopback only: parallel runs on one machine (and CI neighbours) never discover each other.
ROS_ENV_DEFAULTS = {
    "AMENT_PREFIX_PATH": sys.prefix,
    "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
}


def apply_ros_env_defaults(env: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Fill each unset (or empty) variable of ROS_ENV_DEFAULTS in `env`; returns `env`."""
    for name, value in ROS_ENV_DEFAULTS.items():
        if not env.get(name):
            env[name] = value
    return env
