"""Bringup for fleetpilot: the one table of graphs (config/graphs.yaml), parameter files, launch files."""
