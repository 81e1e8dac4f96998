# fleetpilot: every target creates or reuses .venv and installs what it needs, idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# Each run gets its own DDS domain and stays on loopback so parallel runs never see each other.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
export AMENT_PREFIX_PATH := $(abspath $(VENV))

.PHONY: install protos demo test test-fast bench lint format acceptance clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[ros,dev,train]'
	$(BIN)/python -m planning.locomotion_export  # humanoid policy → ONNX, from the installed pybullet
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fleetpilot demo

# gRPC stubs: the install generates them; regenerate when a .proto changed since (stubs are not committed).
protos: $(STAMP)
	$(BIN)/python -m cloud_reasoner.codegen --check 2>/dev/null || $(BIN)/python -m cloud_reasoner.codegen

test: protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# the fixed heap: sim/heap.py; the slowest tests listed (the 10 min CI budget). Two workers (pytest-xdist),
	# then the tests marked `alone` (idle-time CPU, wall-clock bounds) with the machine to themselves.
	$(BIN)/python -m sim.heap $(BIN)/python -m pytest -q -n 2 -m "not alone" --durations=15 tests
	$(BIN)/python -m sim.heap $(BIN)/python -m pytest -q -m alone --durations=5 tests

bench: $(STAMP)
	$(BIN)/fleetpilot bench loop --json runs/bench_loop.json

# The full acceptance sweep of the foundation issue: five scenarios × seeds 0–19, twice.
acceptance: $(STAMP)
	$(BIN)/fleetpilot scenario sweep --seeds 0:20 --repeat 2 --json runs/acceptance.json \
	  --scenarios car_lane_follow,car_static_obstacle,car_red_light,car_pedestrian_crossing,car_lead_vehicle

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) runs ros_ws/build ros_ws/install ros_ws/log
