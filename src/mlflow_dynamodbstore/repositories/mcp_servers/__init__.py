"""The MCP server registry: servers, versions, aliases, tags, access endpoints."""
