"""The one way modelfleet asks jsonschema-rs for a verdict.

jsonschema-rs decides whether a document is valid (compiled, much faster); jsonschema, which
words the messages, runs only on a document it does not accept. That is exact while
jsonschema-rs never accepts what jsonschema rejects: ``tests/test_schema_engine_parity.py``
holds them to it.
"""

from __future__ import annotations

import jsonschema_rs


def fast_accepts(validator: jsonschema_rs.Validator, data: object) -> bool:
    """True when ``jsonschema-rs`` finds ``data`` valid. False means "not known to be valid":
    invalid, or holding a value JSON has no exact counterpart for (a date, an int key, a str
    subclass), which jsonschema-rs refuses to read; jsonschema decides then."""
    try:
        return validator.is_valid(data)
    except (ValueError, TypeError, OverflowError):
        return False
