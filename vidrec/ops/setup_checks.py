"""Set-up steps that `make setup` runs: things pip alone cannot do. Safe to run again."""

from __future__ import annotations

import sys

from vidrec.feast_config import install_duckdb_delta


def main(argv: list[str]) -> int:
    if argv[:1] == ["duckdb-delta"]:
        print(f"duckdb delta extension: {install_duckdb_delta()}")
        return 0
    print("usage: python -m vidrec.ops.setup_checks duckdb-delta", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
