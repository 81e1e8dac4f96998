"""Errors every layer may raise and every front end (the command, a node) must tell apart from bugs."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not the model it should be: the user's to fix (rebuild or
    point at another file), so the command reports it as a usage error, not an internal one."""
