"""Database pairs: one cluster per group, exactly one primary, moved with the active groups."""
