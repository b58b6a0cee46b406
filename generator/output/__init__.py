"""The output stage: split objects into a Kustomize base and overlays, decide every path
under rendered/, serialise YAML."""
