"""`main()` shared by every node executable: init, spin one node, shut down cleanly."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(node_class: type[Node], args: list[str] | None = None) -> None:
    rclpy.init(args=sys.argv if args is None else args)
    node = None
    try:
        node = node_class()
        # A node that has a natural end (the sim after its scenario) sets `finished`; others spin
        # until SIGINT/SIGTERM.
        while rclpy.ok() and not getattr(node, "finished", False):
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
