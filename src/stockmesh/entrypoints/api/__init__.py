"""The HTTP API and the dashboard: ``create_app(settings)``."""

from stockmesh.entrypoints.api.app import create_app
from stockmesh.entrypoints.api.settings import Settings

__all__ = ["Settings", "create_app"]
