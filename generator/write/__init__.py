"""The write stage: the only code that touches ``rendered/``."""
