"""flask-sessionext: Auth.js-style authentication for Flask."""

from .decorators import login_required
from .extension import AuthExt, get_token

__all__ = ["AuthExt", "get_token", "login_required"]
