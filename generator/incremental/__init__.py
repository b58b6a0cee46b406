"""Everything that exists only for speed: the unit cache and its keys, the input and delta
records, and the sinks a streaming render hands its files to."""
