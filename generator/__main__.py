"""`python -m generator` runs the modelfleet CLI."""

import sys

try:
    from generator.cli import main_entry
except KeyboardInterrupt:  # Ctrl-C while importing: no traceback, the usual exit code
    sys.stderr.write("modelfleet: interrupted\n")
    sys.exit(130)

main_entry()
