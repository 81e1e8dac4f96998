"""System 2: the cloud reasoning service (later issue)."""
