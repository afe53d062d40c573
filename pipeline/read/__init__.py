"""The read side behind the terminal, Telegram, MCP and doctor: status, positions, analysis, reports, charts."""
