"""The AI gateway's items: secrets (encrypted), model definitions, endpoints with their
attached models and tags (keys in schema/ai_gateway_keys.py, layout in docs/ai-gateway.md)."""
