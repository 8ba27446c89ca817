"""dfr package."""
