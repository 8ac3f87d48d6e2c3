"""A small app of the lock tests' own: models with and without a version column, admins
with inlines, with `exclude`, with their own templates."""
