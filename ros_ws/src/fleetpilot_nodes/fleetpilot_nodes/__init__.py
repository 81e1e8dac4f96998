"""Thin ROS 2 nodes around the fleetpilot core (sim, perception, planning).

Nodes only declare parameters, convert messages (conversions.py is the single place that knows both
ROS messages and core types) and call the core.
"""
