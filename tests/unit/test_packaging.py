"""cypher/ and plugin/ must reach an installed wheel, not only the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_carries_queries_and_loads_them_by_name(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("kgn_align-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    for name in ("load_nodes", "server_components"):
        assert f"kgn_align/_resources/cypher/{name}.cypher" in names
    assert any(n.startswith("kgn_align/_resources/plugin/") for n in names)
    # Import from the unpacked wheel, from a directory that is not the checkout.
    code = ("import kgn_align, kgn_align.cypher as c; "
            "print(kgn_align.__file__); print(c.resource_dir('cypher')); "
            "print(c.render('load_nodes', {'label': 'Movie'}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    module_file, resource_dir, query = run.stdout.split("\n", 2)
    assert module_file.startswith(str(site)) and resource_dir.startswith(str(site))
    assert "MERGE (n:`Movie` {graph: $graph, key: row.key})" in query
