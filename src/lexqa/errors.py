"""Errors a stage reports to the user as one clear line (exit status 2) rather than a traceback.

>>> raise InputError("cannot split 1 group(s) into train and eval: add documents")
Traceback (most recent call last):
...
lexqa.errors.InputError: cannot split 1 group(s) into train and eval: add documents
"""


class InputError(ValueError):
    """The stage's input cannot give a result (too little data left, say); the message says what to change."""


class CacheFullError(OSError):
    """A cache could not grow (disk full, or its size limit): what it held is intact; the message says what to
    do."""
