"""``qtx mcp``: the Model Context Protocol server on stdio (``control.mcp_server``)."""

from __future__ import annotations

import typer

from cli.common import EXIT_USAGE, ctx_of, fail, guarded

INSTALL_HINT = ("qtx mcp needs the optional MCP extra, which is not installed: run "
                "`pip install -e '.[mcp]'` in the qtx checkout (make install includes it)")


def mcp_cmd(ctx: typer.Context) -> None:
    """Serve the Model Context Protocol on stdin/stdout for an AI assistant.

    For OpenClaw, Claude, ...: read-only tools (status, positions, analysis, latest_report, recent_events,
    recent_runs, doctor) with JSON results. pause_buys / resume_buys exist only with
    `mcp.allow_control: true`. Nothing that places or cancels orders is exposed. The client
    starts this command; see docs/openclaw.md."""
    try:
        import mcp.server.mcpserver  # noqa: F401  (the optional extra)
    except ImportError:
        fail(INSTALL_HINT, EXIT_USAGE)  # fail() prints text as written, brackets included
    app_ctx = ctx_of(ctx)

    def body():
        settings = app_ctx.settings  # a bad config stops here, exit 2, before serving
        from control.mcp_server import serve

        serve(settings)

    guarded(body)
