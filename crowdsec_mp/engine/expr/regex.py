"""Go-regexp compilation for `matches` (and anything else in expr that takes
a pattern). The RE2 -> Python translation is `crowdsec_mp.engine.regex_compat`
(shared with grok and data files); compiled patterns are cached by text so a
dynamic pattern is translated once, not per evaluation."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def compile_go_regex(pattern: str):
    """Compile a Go regexp; raises re.error / ValueError when it is invalid."""
    # Imported lazily: regex_compat is a sibling module with its own import cost.
    from crowdsec_mp.engine.regex_compat import compile_re2

    return compile_re2(pattern)
