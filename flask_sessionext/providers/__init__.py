"""Ways to sign in."""

from .base import Provider
from .credentials import Credentials

__all__ = ["Credentials", "Provider"]
