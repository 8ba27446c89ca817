"""missions package."""
