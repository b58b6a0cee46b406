"""The CLI's commands beyond render and validate: explain, promote, diff and the
generated schema files."""
