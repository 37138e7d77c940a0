"""The MCP server of taskvec (installed as ``taskvec.server``).

``build_server`` and ``serve`` load lazily: importing ``taskvec.server.security`` must not pull in torch.
"""

from typing import Any

__all__ = ["build_server", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
