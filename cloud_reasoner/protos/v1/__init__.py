"""Version 1 of the fleetpilot.cloud.v1 contracts; *_pb2*.py here are generated."""
