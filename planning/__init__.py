"""Behaviour, local planning, safety and control over perception's BEV grid. The embodiment (car or
humanoid) is a parameter set: footprint, limits and motion model come from planning.types.Embodiment."""
