"""The input stages: load YAML with positions, parse it into spec layers, resolve one
spec per (environment, model)."""
