"""One exception root, so callers can catch everything kgn-align raises in one place.

Driver errors are translated at the boundary (:mod:`kgn_align.graph`) with ``raise ... from``;
messages never carry passwords or other secrets.
"""

from __future__ import annotations

import difflib
import re

#: ``scheme://user:secret@host`` -> the secret part, wherever it appears in a message.
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:@/]*):(?P<secret>[^\s@/]*)@")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the password of any ``scheme://user:password@`` URI, and each of
    ``secrets``, replaced by ``***``: for every message that may reach a log or a user."""
    text = _URI_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def clipped(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters at most, ``...`` ending a cut one: a value or a
    line quoted in a one-line message."""
    return text if len(text) <= width else text[:width - 3] + "..."


def closest(word: str, choices: list[str] | set[str], *, cutoff: float = 0.75) -> str | None:
    """The choice ``word`` most likely meant: a case-insensitive match among ``choices``,
    else the one choice ``word`` abbreviates (begins it, case aside, in 3 or more
    characters: ``Org`` for ``Organization``), else the closest one whose difflib ratio is
    at least ``cutoff``, else None. ``word`` itself is never its own match."""
    others = sorted(c for c in choices if c != word)
    same_case = [c for c in others if c.lower() == word.lower()]
    begun = [c for c in others if len(word) >= 3 and c.lower().startswith(word.lower())]
    close = same_case or (begun if len(begun) == 1 else []) or \
        difflib.get_close_matches(word, others, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(word: str, choices: list[str] | set[str], *, cutoff: float = 0.75,
                 nameable: re.Pattern[str] | None = None) -> str:
    """`` (did you mean 'Film'?)`` for the :func:`closest` of ``choices`` to ``word``, else ``""``.
    ``nameable``: what a configuration may name (an identifier); a match it refuses (a
    relationship type ``IN VENUE``) is said to be there but not nameable, not suggested."""
    match = closest(word, choices, cutoff=cutoff)
    if match is None:
        return ""
    if nameable is not None and not nameable.fullmatch(match):
        return (f" (the graph has {match!r}, which no configuration can name: names match "
                f"{nameable.pattern}; rename it in the graph, or for a relationship type leave "
                "relationship_types out to follow every type)")
    return f" (did you mean {match!r}?)"


class KgnAlignError(Exception):
    """Root of every error kgn-align raises on purpose."""


class ConfigError(KgnAlignError, ValueError):
    """The configuration is invalid; the message names every offending field."""


class InputError(KgnAlignError, ValueError):
    """A data file is malformed; carries the file and line so a person can fix it."""

    def __init__(self, problem: str, *, path: str | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{problem}")


class GraphError(KgnAlignError):
    """Talking to the graph server failed."""


class ServerUnavailable(GraphError):
    """No graph server answers at the configured address, or it cannot serve now (it is
    starting or stopping, refuses the credentials, or broke the connection). The one type a
    long-running command retries on; every other :class:`GraphError` is final."""


class ConnectionBroken(ServerUnavailable):
    """The connection broke under a query: the driver was closed meanwhile, or the server
    reset the conversation (a restarting server answers "BEGIN not expected in state
    AUTHENTICATION"). The server may be fine: a new connection usually succeeds, and
    long-running commands retry with one."""


class CredentialsRefused(ServerUnavailable):
    """The server refused the user name and password. Wrong credentials, or a server that
    is shutting down or still starting (it refuses logins then): long-running commands
    retry, one-off commands report it."""


class QueryError(GraphError):
    """The server rejected a query; names the query file so the statement can be found."""


class ValueTypeError(QueryError):
    """The server met a value of a type the query cannot use (a list where text is read):
    Neo4j's ``Neo.ClientError.Statement.TypeError``, ArcadeDB's error saying TypeError or
    Type mismatch. The data, not the query, is what to mend."""


class ConstraintViolation(QueryError):
    """A write broke a uniqueness constraint; the transaction was rolled back."""


class CheckpointError(KgnAlignError, ValueError):
    """A model checkpoint cannot be used: not one, another format, or changed since training."""


class LocalServerError(KgnAlignError):
    """A server kgn-align starts itself (Neo4j, ArcadeDB) could not be fetched, started,
    reached or stopped; the message names what is missing or the log to read."""
