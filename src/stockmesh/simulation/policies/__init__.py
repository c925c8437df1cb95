"""Policies the twin can run: the ``Policy`` seam, the planner baselines, the oracle and
hindsight, the agents policy and the agents wrapped with allocation, transshipping or consolidation."""

from stockmesh.simulation.policies.base import Decision, Policy

__all__ = ["Decision", "Policy"]
