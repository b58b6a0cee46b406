"""`python -m generator` runs the modelfleet CLI."""

from .cli import main_entry

main_entry()
