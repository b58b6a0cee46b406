"""Everything that exists only for speed: the unit cache, the input and delta records,
and the render that reuses them."""
