"""The MCP server registry searches (servers, versions, access endpoints)."""
