"""Headless PyBullet worlds, embodiments, sensors and scenarios with ground-truth metrics.

Never imports rclpy: ROS 2 wrappers live in ros_ws/. Importing the package loads no physics engine;
the modules that step or render import pybullet through sim/_quiet_import.py.
"""
