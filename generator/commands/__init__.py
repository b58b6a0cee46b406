"""The CLI's commands beyond render and validate: explain, promote, diff, the delta path
of render, and the generated schema files."""
