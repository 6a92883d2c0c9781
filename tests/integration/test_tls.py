"""Bolt over TLS on the Neo4j kgn-align starts: a certificate made for the test, and
kgn-align connecting with bolt+ssc:// and with bolt:// plus the certificate as CA file;
unencrypted and unverified connections are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgn_align.config import ConnectionConfig
from kgn_align.errors import ServerUnavailable
from kgn_align.graph import Graph
from tests.conftest import require_runnable

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bolt_over_tls(tmp_path: Path) -> None:
    require_runnable("neo4j")
    from click.testing import CliRunner

    from kgn_align.cli import cli
    from kgn_align.servers import server_for

    home = tmp_path / "home"
    server = server_for("neo4j", home)
    # as a user starts it; ready only when Bolt answered over TLS
    started = CliRunner().invoke(cli, ["--home", str(home), "server", "start", "neo4j", "--tls"])
    try:
        assert started.exit_code == 0, started.output
        state = server.state()
        assert state is not None and state.uri.startswith("bolt+ssc://") and state.tls_certificate
        # where the certificate is, for --ca-file: said at the start and by 'server status'
        assert f"certificate {state.tls_certificate} " in started.output, started.output
        status = CliRunner().invoke(cli, ["--home", str(home), "server", "status"])
        assert json.loads(status.stdout)["tls_certificate"] == state.tls_certificate
        assert Path(state.tls_certificate).read_text().startswith("-----BEGIN CERTIFICATE-----")
        plain = state.connection().model_dump()
        plain["password"] = state.password.get_secret_value()
        address = state.uri.split("://", 1)[1]

        def connect(**change: object) -> Graph:
            return Graph(ConnectionConfig(**{**plain, "max_retry_time": 1.0, **change}))

        with connect() as g:  # bolt+ssc: encrypted, self-signed accepted
            assert g.read("server_components")
        with connect(uri=f"bolt://{address}", ca_file=state.tls_certificate) as g:
            assert g.read("server_components")  # encrypted and checked against the CA file
        with connect(uri=f"bolt://{address}") as g, pytest.raises(ServerUnavailable):
            g.verify()  # plain text is refused: TLS is required
        # the system's CAs do not know a self-signed certificate: said as a TLS failure,
        # not as "no graph server answers" (the server did answer)
        with connect(uri=f"bolt+s://{address}") as g, \
                pytest.raises(ServerUnavailable, match=r"the TLS handshake failed \(CERTIFICATE_VERIFY_FAILED\)"):
            g.verify()
        junk = tmp_path / "junk.pem"
        junk.write_text("not a certificate\n")
        with connect(uri=f"bolt://{address}", ca_file=str(junk)) as g, \
                pytest.raises(ServerUnavailable, match=r"the TLS handshake failed .*the CA file"):
            g.verify()
    finally:
        server.stop()
