"""``python -m bridge.tools.sandbox``: ``bridge sandbox`` without the rest of the CLI."""

import argparse
import sys

from .command import configure_parser, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.tools.sandbox", description=__doc__)
    configure_parser(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
