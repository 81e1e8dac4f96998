"""Headless PyBullet worlds, embodiments, sensors and scenarios with ground-truth metrics.

Never imports rclpy: ROS 2 wrappers live in ros_ws/.
"""

from sim._quiet_import import import_pybullet_quietly

import_pybullet_quietly()
