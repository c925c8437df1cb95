"""Policies the twin can run: the ``Policy`` seam, the baselines of issue 5 and the agents policy."""

from stockmesh.simulation.policies.base import Decision, Policy

__all__ = ["Decision", "Policy"]
