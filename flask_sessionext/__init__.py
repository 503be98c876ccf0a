"""flask-sessionext: Auth.js-style authentication for Flask."""

from .csrf import csrf_token
from .decorators import csrf_required, login_required
from .extension import AuthExt, get_token

__all__ = ["AuthExt", "csrf_required", "csrf_token", "get_token", "login_required"]
