"""The SQLite registry shared by processes (the API and the CLI): no process loses the other's writes.

Regression: ``open_registry`` once opened and closed the database file itself, which drops
every POSIX lock the process holds on it; a CLI closing its connection then deleted the WAL
under the API's open connections, and keys created or revoked by either side were lost.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from storage.registry import ApiKeys, Scope, open_registry

_CLI = """
import sys
from storage.registry import ApiKeys, Scope, open_registry
conn = open_registry(sys.argv[1])
keys = ApiKeys(conn)
if sys.argv[2] == "create":
    print(keys.create(sys.argv[3], Scope.PUBLIC)[1])
else:
    print(",".join(sorted(k.name for k in keys.list())))
conn.close()
"""


def _other_process(path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CLI, str(path), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    return done.stdout.strip()


def test_a_second_process_never_loses_the_first_ones_writes(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    api = open_registry(path)
    ApiKeys(api).create("api-before", Scope.PUBLIC)
    # Another component of the same process opens its own connection (the audit thread,
    # the revocation watcher): this must not drop the process's locks.
    worker = open_registry(path)
    _other_process(path, "create", "cli")
    ApiKeys(api).create("api-after", Scope.PUBLIC)
    token = ApiKeys(worker).create("worker", Scope.PUBLIC)[1]
    assert _other_process(path, "list") == "api-after,api-before,cli,worker"
    assert ApiKeys(api).verify(token) is not None
    api.close()
    worker.close()
    assert _other_process(path, "list") == "api-after,api-before,cli,worker"
    assert (path.stat().st_mode & 0o777) == 0o600
