"""The fleetpilot command and the orchestration that spans the core packages (scenario runner,
benchmarks, launcher). The logic itself lives in sim/, perception/, planning/ and cloud_reasoner/."""
