"""The MCP server of taskvec (installed as ``taskvec.server``)."""

from .app import build_server, serve

__all__ = ["build_server", "serve"]
