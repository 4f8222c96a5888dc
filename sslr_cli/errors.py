"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class SSLRError(Exception):
    """Bad input from the user: a file, an option or a combination of them.

    The message must name the file or option and say what is wrong; the CLI prints it on one
    line without a traceback and exits with code 2.
    """
