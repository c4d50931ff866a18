"""Set-up steps that `make setup` runs: things pip alone cannot do. Safe to run again."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def install_duckdb_delta(home: Path | None = None) -> Path:
    """Make DuckDB's delta extension loadable offline (from the duckdb-ext-delta wheel).

    DuckDB would otherwise download it at run time, which this environment forbids. Python code can
    also point DuckDB at the wheel's folder with ``extension_directory``; the copy serves the CLIs.
    """
    import duckdb
    import duckdb_ext

    version = duckdb.__version__
    src_root = Path(list(duckdb_ext.__path__)[0]) / "extensions"
    found = sorted(src_root.glob(f"v{version}/*/delta.duckdb_extension"))
    if not found:
        raise SystemExit(f"duckdb-ext-delta has no delta extension for duckdb {version} under {src_root}")
    src = found[0]
    dest = (home or Path.home()) / ".duckdb" / "extensions" / f"v{version}" / src.parent.name / src.name
    if not dest.exists() or dest.stat().st_size != src.stat().st_size:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return dest


def main(argv: list[str]) -> int:
    if argv[:1] == ["duckdb-delta"]:
        print(f"duckdb delta extension: {install_duckdb_delta()}")
        return 0
    print("usage: python -m vidrec.ops.setup_checks duckdb-delta", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
