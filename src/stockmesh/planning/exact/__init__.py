"""Exact solvers for the textbook inventory models, one module per model.

Each solver takes plain numbers (and numpy arrays), returns a small frozen result dataclass and does
no I/O. ``instances`` turns the JSON-lines schema of ``docs/policy-instances.md`` into solver calls
and checks answers against their tolerance.

    newsvendor   single-stage base stock (normal, Poisson, discrete demand)
    ss           periodic-review (s,S), Poisson demand (Zheng-Federgruen 1991)
    rq           continuous-review (r,Q), Poisson (integers) and normal (reals) demand
    serial       Clark-Scarf serial system, echelon base-stock levels (Chen-Zheng recursion)
    gsm          guaranteed-service safety-stock placement on trees (Graves-Willems DP)
"""

from __future__ import annotations

from stockmesh.planning.exact.gsm import GsmNode, GsmResult, solve_gsm_tree
from stockmesh.planning.exact.newsvendor import (
    NewsvendorResult,
    solve_newsvendor_discrete,
    solve_newsvendor_normal,
    solve_newsvendor_poisson,
)
from stockmesh.planning.exact.rq import RQResult, solve_rq_normal, solve_rq_poisson
from stockmesh.planning.exact.serial import SerialResult, solve_serial_normal, solve_serial_poisson
from stockmesh.planning.exact.ss import SSResult, solve_ss_poisson

__all__ = [
    "GsmNode",
    "GsmResult",
    "NewsvendorResult",
    "RQResult",
    "SSResult",
    "SerialResult",
    "solve_gsm_tree",
    "solve_newsvendor_discrete",
    "solve_newsvendor_normal",
    "solve_newsvendor_poisson",
    "solve_rq_normal",
    "solve_rq_poisson",
    "solve_serial_normal",
    "solve_serial_poisson",
    "solve_ss_poisson",
]
