"""The Local API: CrowdSec v1 wire-compatible HTTP service (spec/lapi.md).

See README.md in this directory for the module map and the contracts other
packages use (create_app, serve, admin.*). `create_app` and `serve` are
importable from here; they load Flask/waitress only when first used.
"""


def __getattr__(name):
    if name == "create_app":
        from crowdsec_mp.api.app import create_app

        return create_app
    if name == "serve":
        from crowdsec_mp.api.server import serve

        return serve
    raise AttributeError(name)
