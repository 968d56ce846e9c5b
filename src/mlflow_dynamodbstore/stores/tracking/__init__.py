"""The tracking store facade, one mixin per aggregate (experiments, runs, search...)."""
