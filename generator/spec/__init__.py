"""What users write: the versioned spec (``modelfleet/v1``) as pydantic models and its scalar types, with no I/O."""
