"""InventoryAgent: positions and network availability, and the reactive triggers.

Pure numerics over arrays: which SKU x sites will run out within their lead time, how much of each
SKU the network holds, and where today's demand ran far above its forecast (a spike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StockoutRisk:
    rows: np.ndarray
    inventory_position: np.ndarray
    lead_time_demand: np.ndarray
    days_of_cover: np.ndarray


class InventoryAgent:
    name = "inventory"

    @staticmethod
    def network_availability(sku_index: np.ndarray, available: np.ndarray, n_skus: int) -> np.ndarray:
        """Units available per SKU across every site."""
        return np.bincount(sku_index, weights=np.maximum(available, 0), minlength=n_skus)

    @staticmethod
    def projected_stockouts(inventory_position: np.ndarray, daily_demand_mean: np.ndarray,
                            lead_time_days: np.ndarray) -> StockoutRisk:
        """Rows whose position will not cover the mean demand over their lead time."""
        lead_time_demand = daily_demand_mean * lead_time_days
        with np.errstate(divide="ignore", invalid="ignore"):
            cover = np.where(daily_demand_mean > 0, inventory_position / daily_demand_mean, np.inf)
        rows = np.flatnonzero((inventory_position < lead_time_demand) & (daily_demand_mean > 0))
        return StockoutRisk(rows, inventory_position[rows], lead_time_demand[rows], cover[rows])

    @staticmethod
    def demand_spikes(sales_today: np.ndarray, forecast_mean: np.ndarray, forecast_sd: np.ndarray,
                      z: float = 3.0, min_units: float = 3.0) -> np.ndarray:
        """Rows where today's demand exceeds the forecast by ``z`` standard deviations (and a few units)."""
        threshold = forecast_mean + z * np.maximum(forecast_sd, np.sqrt(np.maximum(forecast_mean, 0.0)))
        return np.flatnonzero((sales_today > threshold) & (sales_today - forecast_mean >= min_units))
