"""The error every anticipated bad input becomes: the command line turns it into exit code 2 and one line."""


class InvalidInputError(ValueError):
    """The input cannot be processed; the message says which input and why."""
