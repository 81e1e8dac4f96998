"""Names of the faults the embedded service can inject (cloud_reasoner.vehicle_bridge); no imports, so
the command line can list them without loading gRPC."""

CLOUD_FAULTS = ("down", "kill", "slow", "error", "garbage", "stale", "unsafe")
