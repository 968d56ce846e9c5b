"""Domain repositories: one module per aggregate, each writing its own items."""
