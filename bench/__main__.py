"""`python -m bench`: list the benchmarks; run one with `python -m bench.<name>`."""

from __future__ import annotations

import pkgutil
from pathlib import Path


def main() -> None:
    names = sorted(
        module.name
        for module in pkgutil.iter_modules([str(Path(__file__).parent)])
        if module.name.startswith("bench_")
    )
    print("Benchmarks (each prints its figures; none is a test):")
    for name in names:
        print(f"  .venv/bin/python -m bench.{name}")


if __name__ == "__main__":
    main()
