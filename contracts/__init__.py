"""The contracts every part of fleetpilot speaks: message types, the ground-truth class table, the time
grid. The ground floor (openpilot's cereal/ is the model): imported by the simulator, the stack, the
nodes and the tools alike, it imports nothing of ours and nothing heavier than numpy, so a vehicle
runs the stack without the simulator.
"""
