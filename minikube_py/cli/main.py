"""`minikube-py`: one console script, a subcommand per component.

Each module in this package that defines `register(subparsers)` adds its
subcommands; the handler it sets as `func` receives the parsed namespace and
returns an exit code. Components do their work in their own packages.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import pkgutil
import sys

from minikube_py.cli import __path__ as _cli_path
from minikube_py.client.errors import ConfigError

_BIND_ERRNOS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 1, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minikube-py", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_cli_path), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"minikube_py.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def _bind_failure(e: OSError) -> str | None:
    """A server's address in use or not on this host: its flags' fault, not a bug, so no
    traceback (asyncio raises these bare, or as the context of its own OSError)."""
    found = next((x for x in (e, e.__cause__, e.__context__)
                  if isinstance(x, OSError) and x.errno in _BIND_ERRNOS), None)
    if found is None:
        return None
    return str(e.strerror) if found is e else f"{e}: {found.strerror}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except (CLIError, ConfigError) as e:  # ConfigError: a kubeconfig any command was given
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if (reason := _bind_failure(e)) is None:
            raise
        print(f"error: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # `python -m` runs this file as __main__, a second copy of the module: dispatch through
    # the package's copy so the CLIError that subcommands raise is the class caught here.
    from minikube_py.cli.main import main as package_main

    sys.exit(package_main())
