"""Flask's cookie sessions keyed by the instance's secret key, read (or made) on the first session the
app opens instead of when the app is made: the factory writes nothing, and sessions survive restarts."""
from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from kb.instance_secret import ensure_secret_key, read_secret_key


class InstanceKeySessions(SecureCookieSessionInterface):
    def __init__(self, home):
        self.home = home

    def open_session(self, app: Flask, request):
        if not app.secret_key:
            app.secret_key = ensure_secret_key(self.home)
        return super().open_session(app, request)


def init_app(app: Flask, home) -> None:
    """Use the configured SECRET_KEY, else the instance's key (now if a step has made it, else on first need)."""
    if not app.config.get("SECRET_KEY"):
        app.secret_key = read_secret_key(home)
        app.session_interface = InstanceKeySessions(home)
