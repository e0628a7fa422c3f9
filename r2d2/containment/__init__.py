"""containment."""
