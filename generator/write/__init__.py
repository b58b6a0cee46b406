"""The write stage: the only code that touches ``rendered/``.

``tree`` brings ``rendered/`` to a plan and ``read`` compares it with one; ``planned`` says what
a plan is, ``record`` and ``manifest`` what is known about the trees on disk; ``fs`` holds the
file-system steps (and ``write_atomic``, which the rest of ``generator`` uses to replace a
file), ``walk`` the directory walk and ``findings`` what the stage tells a user.
"""
