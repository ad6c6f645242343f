"""Keys the stack sets that the program would silently ignore: a mistyped key of the project
(`appReplica`) or a key under a mistyped project namespace (`ecr-eks-lamda:appReplicas`).
Either would deploy the default instead of what the user meant, so both are refused, with the
closest declared key as the hint.

Values are never shown: an unknown key may hold a secret, which the engine hands over in clear.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

OTHER_NAMESPACES = frozenset({"aws", "eks", "kubernetes", "docker-build", "pulumi"})
"""Namespaces the program's providers (and the engine) read; their keys are theirs to check."""
SIMILARITY = 0.8
"""difflib's ratio above which a name counts as a typo of another: one or two characters
added, dropped or changed in a name as long as the project's (`ecr-eks-lamda` scores 0.96)."""


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=SIMILARITY)
    return found[0] if found else None


def unknown_key_problems(
    keys: Iterable[str], project: str, declared: Iterable[str]
) -> Iterator[str]:
    """One problem per `namespace:key` in `keys` that is the project's but not declared, or
    whose namespace looks like a typo of the project's, in the order of `keys`."""
    declared = sorted(declared)
    for full in keys:
        namespace, _, key = full.rpartition(":")
        if namespace == project:
            if key in declared:
                continue
            match = _closest(key, declared)
            hint = f"did you mean {match}?" if match else "Pulumi.yaml's config block lists them"
            yield f"{full}: not a key of this program; {hint}"
        elif namespace not in OTHER_NAMESPACES and _closest(namespace, [project]):
            match = key if key in declared else _closest(key, declared)
            suggestion = f"{project}:{match}" if match else f"a key under {project}:"
            yield (
                f"{full}: {namespace!r} is not a namespace this program or its providers read; "
                f"did you mean {suggestion}?"
            )
