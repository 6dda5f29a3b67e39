"""Research recipes: scripts that re-create the shipped model and measure it (not run by `photocap train`)."""
