"""Reasoning backends behind one interface (cloud_reasoner.backends.base.Backend)."""
