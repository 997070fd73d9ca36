"""The one ipset runner: `ipset restore` for what NetworkPolicy rules match, `ipset list`
to find our sets, optionally inside a named network namespace (sets are per namespace).

A set's members are replaced whole by swapping in a freshly filled twin, so a rule
matching the set never sees it half-filled. Every failure is an `IpsetError` carrying
the tool's stderr.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Longest set name ipset takes (IPSET_MAXNAMELEN - 1).
MAX_NAME = 31
TMP_SUFFIX = "-T"


class IpsetError(RuntimeError):
    """ipset failed; the message carries its stderr."""


@dataclass(frozen=True)
class IpSet:
    """A set as rules use it: hash:ip (pod addresses) or hash:net (ipBlocks, whose
    `except` entries are `nomatch`)."""

    kind: str  # "hash:ip" | "hash:net"
    members: tuple[str, ...] = ()
    nomatch: tuple[str, ...] = ()


def _argv(netns: str | None, *args: str) -> list[str]:
    return [*(["ip", "netns", "exec", netns] if netns else []), "ipset", *args]


def _run(netns: str | None, *args: str, stdin: str | None = None) -> str:
    argv = _argv(netns, *args)
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False,
                              timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise IpsetError(f"{' '.join(argv)}: {e}") from e
    if proc.returncode != 0:
        raise IpsetError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def restore_text(sets: Mapping[str, IpSet]) -> str:
    """Create each set if missing, then fill its twin and swap it in (atomically per set)."""
    lines: list[str] = []
    for name, s in sorted(sets.items()):
        if len(name) + len(TMP_SUFFIX) > MAX_NAME:
            raise IpsetError(f"ipset name too long: {name}")
        tmp = name + TMP_SUFFIX
        options = f"{s.kind} family inet hashsize 64 maxelem 262144"
        lines += [f"create {name} {options} -exist", f"create {tmp} {options} -exist",
                  f"flush {tmp}"]
        lines += [f"add {tmp} {m} -exist" for m in s.members]
        lines += [f"add {tmp} {m} nomatch -exist" for m in s.nomatch]
        lines += [f"swap {tmp} {name}", f"destroy {tmp}"]
    return "".join(f"{line}\n" for line in lines)


def apply(sets: Mapping[str, IpSet], netns: str | None = None) -> None:
    """Make every set in `sets` hold exactly its members (one ipset process)."""
    text = restore_text(sets)
    if text:
        _run(netns, "restore", stdin=text)


def names(prefix: str, netns: str | None = None) -> set[str]:
    """The sets whose name starts with `prefix`."""
    return {n for n in _run(netns, "list", "-n").split() if n.startswith(prefix)}


def destroy(sets: Iterable[str], netns: str | None = None) -> None:
    """Destroy these sets (none may still be referenced by a rule); gone ones are fine."""
    wanted = set(sets)
    if not wanted:
        return
    text = "".join(f"destroy {n}\n" for n in sorted(wanted & names("", netns)))
    if text:
        _run(netns, "restore", stdin=text)
