"""Write the generated pages under docs/, or with --check list the ones that are stale.

    python -m governance_assets.docs_site [--root DIR] [--check]

--check writes nothing and exits 1 naming every page that differs from what the code gives now.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from . import architecture_page, cli_page, gate_page, outputs_page, params_page

REPO = Path(__file__).resolve().parents[2]


def expected_pages(root: Path) -> dict[Path, str]:
    """Each generated page's path under root and the text the code gives for it now."""
    docs = root / "docs"
    renderers: dict[str, Callable[[], str]] = {
        gate_page.PAGE: gate_page.render,
        "reference/params.md": params_page.render,
        "reference/cli.md": cli_page.render,
        "reference/outputs.md": lambda: outputs_page.render(root / "dvc.yaml"),
        architecture_page.PAGE:
            lambda: architecture_page.with_block((docs / architecture_page.PAGE).read_text()),
    }
    return {docs / relative: render() for relative, render in renderers.items()}


def stale_pages(root: Path) -> list[Path]:
    return [path for path, text in expected_pages(root).items()
            if not path.is_file() or path.read_text() != text]


def write_pages(root: Path) -> list[Path]:
    """Write the pages that changed; the written ones are returned."""
    written = []
    for path, text in expected_pages(root).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m governance_assets.docs_site",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO, help="project root (this checkout)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.root)
        for path in stale:
            print(f"stale: {path.relative_to(args.root)} (run `make docs`)")
        return 1 if stale else 0
    for path in write_pages(args.root):
        print(f"wrote {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
