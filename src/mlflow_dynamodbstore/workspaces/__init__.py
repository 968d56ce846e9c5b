"""Workspace-wide admin jobs: finding what a workspace owns, deleting or moving it."""
