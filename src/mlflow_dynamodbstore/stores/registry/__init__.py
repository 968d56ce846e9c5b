"""The model registry store facade, one mixin per aggregate (models, versions, webhooks)."""
