"""Configuration: one pydantic model, read from a TOML file and from the environment.

Every label, relationship type and property name that reaches a Cypher template passes
through :class:`Identifier` validation here and is backtick-quoted in
:mod:`kgn_align.cypher`; values never enter query text.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from kgn_align.errors import ConfigError

#: Names we accept for labels, relationship types and property keys. Deliberately stricter
#: than Neo4j (no spaces, dots or backticks): anything else is refused, never escaped.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: Database names per Neo4j's rules (lowercase letters, digits, dots and dashes).
DATABASE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.\-]{0,62}$")

ENV_PREFIX = "KGN_ALIGN_"
#: candidates per source entity that blocking hands to the pair model and the global
#: assignment: the default of backfill, evaluate and the worker's jobs. 20, not 10: on
#: dbp15k_ja_en ten held the answer for 0.979 of the sources, twenty for 0.985, and Hits@1
#: among all targets rose 0.956 -> 0.961 (fr_en 0.9875 -> 0.9881, srprs_en_fr 0.986 ->
#: 0.989, itunes_amazon F1 0.961 -> 0.987, dblp_acm equal) at twice the pairs to score.
CANDIDATES_PER_SOURCE = 20


def check_identifier(value: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid identifier: use letters, digits and '_', "
            "starting with a letter or '_' (at most 128 characters)"
        )
    return value


def check_database(value: str | None) -> str | None:
    if value is not None and not DATABASE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid database name")
    if value is not None and value.lower() == "system":
        raise ValueError("'system' is Neo4j's database of users and databases, which holds no graph: "
                         "name the database your graphs are in (the default one when not given)")
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
Scalar = str | int | float | bool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: URI schemes of the official driver: plain, TLS with CA checks (+s), TLS trusting any
#: certificate (+ssc, for self-signed servers); neo4j:// also routes in a cluster.
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


class ConnectionConfig(_Model):
    """Where the graph lives. ``uri=None`` means: the server started by ``kgn-align server
    start`` (its address and generated password are read from its state file).

    A user and password written into the URI (``bolt://user:secret@host``) are moved into
    ``user``/``password``, so that the URI kgn-align keeps, logs and shows has none.
    """

    uri: str | None = None
    user: str = "neo4j"
    password: SecretStr | None = None
    database: Annotated[str | None, AfterValidator(check_database)] = None
    max_retry_time: float = Field(30.0, gt=0)
    #: PEM file of the CA(s) to trust for TLS (``NEO4J_CA_FILE``), with a ``bolt://`` or
    #: ``neo4j://`` URI: the connection is then encrypted and the server's certificate
    #: checked against these CAs instead of the system's.
    ca_file: str | None = None

    @model_validator(mode="after")
    def _ca_file_usable(self) -> ConnectionConfig:
        if self.ca_file is not None:
            if not Path(self.ca_file).is_file():
                raise ValueError(f"ca_file: {self.ca_file} is not a file")
            if self.uri is not None and "+s" in self.uri.split("://", 1)[0]:
                raise ValueError("ca_file: give a bolt:// or neo4j:// URI with a CA file "
                                 "(bolt+s:// checks against the system's CAs, bolt+ssc:// checks nothing)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _credentials_out_of_uri(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            return data
        from urllib.parse import unquote, urlsplit

        uri = data["uri"].strip()
        scheme, sep, rest = uri.partition("://")
        scheme = scheme.lower()  # schemes are case-insensitive (RFC 3986); the driver's are not
        # Credentials are split off at the last '@' before anything is parsed: a raw password
        # may hold '/', '#', '?' or ':', which a URI parser takes for the path, fragment,
        # query or port -- and then echoes a piece of the password in its error
        userinfo, at, hostpart = rest.rpartition("@")
        if not sep:
            shown = uri.rsplit("@", 1)[-1]  # never echo a password written into it
            raise ValueError(f"uri: {shown!r} has no scheme: write it as bolt://{shown} "
                             f"(or one of {', '.join(s + '://' for s in BOLT_SCHEMES)})")
        if scheme not in BOLT_SCHEMES:
            raise ValueError(f"uri: scheme {scheme + '://' if scheme else '(none)'} is not "
                             f"one the Neo4j driver speaks: {', '.join(s + '://' for s in BOLT_SCHEMES)}")
        bare = f"{scheme}://{hostpart}"
        try:
            parts = urlsplit(bare)
            host = parts.hostname
            parts.port  # raises ValueError on a port that is no number
        except ValueError:  # the credentials are off already: nothing of them can be in it
            raise ValueError("uri: not a valid URI (expected e.g. bolt://localhost:7687)") from None
        if not host:
            raise ValueError("uri: no host (expected e.g. bolt://localhost:7687)")
        if parts.path not in ("", "/"):
            raise ValueError(f"uri: a path ({parts.path}) does not choose a database on Bolt: give "
                             "the database as NEO4J_DATABASE, --database or database in [connection]")
        data = dict(data)
        if at:
            # credentials written into the URI are explicit: they win, and leave the URI;
            # percent-encoded as RFC 3986 asks ('p%40ss' is 'p@ss')
            user, colon, password = userinfo.partition(":")
            if user:
                data["user"] = unquote(user)
            if colon:
                data["password"] = unquote(password)
        data["uri"] = bare
        return data


class GraphSide(_Model):
    """One of the two graphs to align.

    The *entities to align* are the nodes with ``label`` (and, if given,
    ``property = value``, e.g. ``graph = 'imdb'``). The *graph* they live in, which
    neighbourhoods may walk through, is every node with ``property = value`` whatever its
    label (authors and venues around papers); without a property filter, every node with
    ``label``. Sampling never leaves a side's graph.
    """

    name: str = Field(min_length=1, max_length=64)
    label: Identifier
    property: Identifier | None = None
    value: Scalar | None = None

    @model_validator(mode="after")
    def _filter_complete(self) -> GraphSide:
        if (self.property is None) != (self.value is None):
            raise ValueError("give both 'property' and 'value' to filter a side, or neither")
        return self


class SamplingConfig(_Model):
    """Two-hop neighbourhood sampling (CG-MuAlign defaults: 10 and 10)."""

    k1: int = Field(10, ge=1, le=1000)
    k2: int = Field(10, ge=0, le=1000)
    seed: int = 0
    batch_size: int = Field(1000, ge=1, le=100_000)
    weighted: bool = True
    #: Keep each node's sampling hash in its ``kgnHash`` property (``True``): the draw then
    #: happens in the server, a supernode costing ``k`` rows. ``False`` writes nothing to the
    #: nodes: the server returns every candidate and the draw happens in kgn-align, on hashes
    #: computed from the keys. The same trees either way.
    store_hash: bool = True

    #: the settings that shape the trees (a model is trained and scored on trees drawn alike)
    TREE_FIELDS: ClassVar[tuple[str, ...]] = ("k1", "k2", "seed", "weighted")

    def tree_settings(self) -> dict[str, Any]:
        """The :attr:`TREE_FIELDS` as a plain dict (what a checkpoint records)."""
        return {f: getattr(self, f) for f in self.TREE_FIELDS}


class AlignConfig(_Model):
    """Everything kgn-align needs to know about the graphs it aligns."""

    connection: ConnectionConfig = ConnectionConfig()
    source: GraphSide
    target: GraphSide
    key_property: Identifier = "key"
    name_properties: tuple[Identifier, ...] = ("name",)
    attribute_properties: tuple[Identifier, ...] = ()
    #: Labels that mark entity types (Paper, Author, ...); empty: one type per side label.
    entity_labels: tuple[Identifier, ...] = ()
    #: Relationship types to follow when sampling; ``None`` follows every type but SAME_AS.
    relationship_types: tuple[Identifier, ...] | None = None
    same_as_type: Identifier = "SAME_AS"
    sampling: SamplingConfig = SamplingConfig()

    @model_validator(mode="after")
    def _sides_differ(self) -> AlignConfig:
        overlap = set(self.attribute_properties) & set(self.name_properties)
        if overlap:
            raise ValueError(f"attribute_properties: {sorted(overlap)} already in name_properties "
                             "(a property is either name text or a compared attribute)")
        if len(set(self.attribute_properties)) != len(self.attribute_properties):
            raise ValueError("attribute_properties: a property is listed twice")
        if (self.source.label, self.source.property, self.source.value) == (
            self.target.label,
            self.target.property,
            self.target.value,
        ):
            raise ValueError("source and target select the same nodes")
        if self.source.name == self.target.name:  # every message names a side by it
            raise ValueError(f"source and target are both named {self.source.name!r}: give each "
                             "side its own name (messages, edges and jobs name the sides by it)")
        if self.relationship_types is not None and self.same_as_type in self.relationship_types:
            raise ValueError(f"relationship_types must not include {self.same_as_type!r}: "
                             "following it would leak the answer into the features")
        return self


def connection_from_env(base: ConnectionConfig | None = None,
                        env: dict[str, str] | None = None) -> ConnectionConfig:
    """Overlay ``NEO4J_URI``/``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE``."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = (base or ConnectionConfig()).model_dump()
    if base is not None and base.password is not None:
        data["password"] = base.password.get_secret_value()
    for key in ("uri", "user", "password", "database", "ca_file"):
        value = env.get(f"NEO4J_{key.upper()}")
        if value:
            data[key] = value
    try:
        return ConnectionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "connection settings", fields=CONNECTION_OPTIONS)) from None


def connection_from_file(path: str | os.PathLike[str] | None) -> ConnectionConfig | None:
    """The ``[connection]`` table of the TOML config at ``path`` (no environment applied),
    or None: no path, no table, or a file that does not read or validate (the command's
    own :func:`load_config` then names what is wrong with it)."""
    if path is None or not str(path).strip():
        return None
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("connection")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(table, dict):
        return None
    try:
        return ConnectionConfig.model_validate(table)
    except ValidationError:
        return None


#: where each connection setting comes from, for errors: the CLI option and its variable
CONNECTION_OPTIONS = {key: f"{key} (--{key.replace('_', '-')} or NEO4J_{key.upper()})"
                      for key in ("uri", "user", "password", "database", "ca_file")}


def load_config(path: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None,
                overrides: dict[str, Any] | None = None) -> AlignConfig:
    """Read a TOML config (``path`` or ``$KGN_ALIGN_CONFIG``), then apply the environment."""
    env = dict(os.environ if env is None else env)
    path = env.get(f"{ENV_PREFIX}CONFIG") if path is None else path
    data: dict[str, Any] = {}
    source, text = "config", ""
    if path is not None:
        source = str(path)
        if not str(path).strip():
            raise ConfigError("--config / KGN_ALIGN_CONFIG is empty: give the path of a TOML file")
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a folder, not a TOML file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                              f"position {exc.start}): save it as UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if overrides:
        data = _merge(data, overrides)
    try:
        config = AlignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, text=text)) from None
    return config.model_copy(update={"connection": connection_from_env(config.connection, env)})


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(exc: ValidationError, source: str, *, text: str = "",
                            fields: dict[str, str] | None = None) -> str:
    """All problems at once, each with its dotted field name (and, given the TOML ``text``,
    its line); an unknown key with its near miss, or, for a top-level key written below a
    ``[table]``, where it belongs. ``fields``: how to name a field (e.g. its CLI option).
    Never echoes secrets."""
    lines = [f"{source}: {exc.error_count()} problem(s) in configuration:"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = ".".join(loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        named = re.match(r"^([a-z_]+): (.*)$", msg)
        if not loc and named:  # a model-level check that names its field
            field, msg = named.groups()
        if err["type"] == "extra_forbidden":
            msg = _unknown_key(loc)
        elif err["type"] in ("tuple_type", "list_type"):
            msg = f"expected a list, e.g. {field.rsplit('.', 1)[-1]} = [\"title\"]"
        if "password" in field:  # what is wrong, never the value (a trial's number said "invalid value")
            msg = ("expected a string: the password in quotes" if err["type"].endswith("_type")
                   else "invalid value")
        line = _line_of(text, loc)
        where = f" (line {line})" if line else ""
        if line is None and err["type"] == "missing" and len(loc) == 2 and loc[0] in _TABLES:
            table_line = _line_of_table(text, loc[0])  # a missing key: where its table starts
            where = f" (in [{loc[0]}], line {table_line})" if table_line else ""
        lines.append(f"  - {(fields or {}).get(field, field)}{where}: {msg}")
    return "\n".join(lines)


#: the config file's tables, by name, and the model each is read into
_TABLES: dict[str, type[BaseModel]] = {"source": GraphSide, "target": GraphSide,
                                       "sampling": SamplingConfig, "connection": ConnectionConfig}


def _unknown_key(loc: list[str]) -> str:
    """What to say about the unknown key at ``loc``: a near miss among the keys its table
    takes, or that a top-level key was written below a table (TOML puts it in the table)."""
    import difflib

    key = loc[-1]
    table = _TABLES.get(loc[0]) if len(loc) == 2 else AlignConfig if len(loc) == 1 else None
    if table is None:
        return f"unknown key {key!r}"
    if table is not AlignConfig and key in AlignConfig.model_fields:
        return (f"{key!r} is a top-level key: TOML reads a key below [{loc[0]}] as part of that "
                f"table, so move it above the first [table]")
    near = difflib.get_close_matches(key, list(table.model_fields), n=1, cutoff=0.75)
    return f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "") + \
        f"; {'this table' if len(loc) == 2 else 'the top level'} takes: {', '.join(table.model_fields)}"


#: a ``[table]`` header line of a TOML file (stripped)
_TABLE_HEADER = re.compile(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]")


def _line_of_table(text: str, table: str) -> int | None:
    """1-based line of the ``[table]`` header in TOML ``text``."""
    for number, raw in enumerate(text.splitlines(), 1):
        header = _TABLE_HEADER.match(raw.strip())
        if header and header.group(1) == table:
            return number
    return None


def _line_of(text: str, loc: list[str]) -> int | None:
    """1-based line of the key at ``loc`` (``[table]``, then ``key = ...``) in TOML ``text``."""
    if not text or not loc:
        return None
    table, key = (loc[0], loc[1]) if len(loc) >= 2 and loc[0] in _TABLES else (None, loc[0])
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = _TABLE_HEADER.match(line)
        if header:
            current = header.group(1)
        elif current == table and re.match(rf"^{re.escape(key)}\s*=", line):
            return number
    return None
