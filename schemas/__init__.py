"""JSON Schemas exported from the spec models, shipped inside the wheel as generator.schemas."""
