"""zepix_sdk: write zepix trading-engine plugins in Python.

    from zepix_sdk import LogicPlugin, run

    class Plugin(LogicPlugin):
        def process_entry_signal(self, signal):
            placed = self.services.orders.place_from_signal(signal)
            return self.executed(orders=[placed])

    if __name__ == "__main__":
        run(Plugin)

See README.md for the tutorial, the services and the test harness (:mod:`zepix_sdk.testing`).
"""

from .base import DataSourcePlugin, LogicPlugin, StrategyPlugin
from .errors import (
    CallTimeout,
    CapabilityDenied,
    InvalidParams,
    NotFound,
    PluginError,
    RateLimited,
    RiskRejected,
    ServiceError,
    Unavailable,
)
from .runner import run
from .services import Placed, Services
from .signals import Signal

__version__ = "0.1.0"
PROTOCOL = 1

__all__ = [
    "CallTimeout",
    "CapabilityDenied",
    "DataSourcePlugin",
    "InvalidParams",
    "LogicPlugin",
    "NotFound",
    "PROTOCOL",
    "Placed",
    "PluginError",
    "RateLimited",
    "RiskRejected",
    "ServiceError",
    "Services",
    "Signal",
    "StrategyPlugin",
    "Unavailable",
    "run",
]
