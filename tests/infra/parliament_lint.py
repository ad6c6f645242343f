"""parliament (an AWS IAM policy linter) over a policy document the program registers."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    # parliament imports pkg_resources and has regexes with invalid escapes: both warn on
    # import, about parliament itself, not about this project.
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string


def findings(document: str) -> list[tuple[str, Any]]:
    """(issue, detail) of every finding, the community auditors included."""
    linted = analyze_policy_string(document, include_community_auditors=True)
    return [(f.issue, f.detail) for f in linted.findings]
