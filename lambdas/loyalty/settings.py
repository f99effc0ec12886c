"""Reading a handler's configuration from its environment, once, at cold start.

Handlers call these while their module is imported, never per invocation, so a misconfigured
function fails on its first event with a message that names the missing variable.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(
            f"environment variable {name} is not set; the CDK construct that created this "
            "function sets it, so the function was deployed outside the app or edited by hand"
        )
    return value


def decimal_env(name: str, default: str) -> Decimal:
    raw = os.environ.get(name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation as err:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not a number") from err
    if not value.is_finite() or value < 0:
        raise ConfigurationError(f"environment variable {name}={raw!r} must be >= 0")
    return value


def float_env(name: str, default: float) -> float:
    return float(decimal_env(name, str(default)))
