"""taskvec: task-aware text embeddings for LLM agents.

The package is layered so each layer can be used and tested alone:

- ``taskvec.spaces``, ``taskvec.errors``: plain data, no heavy imports.
- ``taskvec.engine``: torch + transformers + peft. Tasks, prompts, adapters, encoding.
- ``taskvec.store``: LanceDB. Collections, embedding-space bookkeeping and the cross-space guard. No torch.
- ``taskvec.service``: joins an engine and a store; what the CLI and the MCP tools call.
- ``taskvec.server`` / ``taskvec.tools`` (folders ``server/`` and ``tools/``): the MCP server.
"""

__version__ = "0.1.0"
