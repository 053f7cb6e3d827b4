"""User-facing errors: one line, exit code 2, no traceback."""


class TfdlError(Exception):
    """An error caused by the user's input (data, config, command line).

    The message is one line that says what was expected, what was received and what to do.
    The CLI prints it as ``error: <message>`` and exits with code 2.
    """

    exit_code = 2
