"""The parser tree: CrowdSec-format parser nodes and the stage loop (spec/parsers.md).

* `spec.py`   — NodeSpec: the YAML shape, decoded strictly (no compilation).
* `loader.py` — `load_parsers(files, ctx, patterns) -> ParserTree`: file order,
                validation, compilation of expressions and groks.
* `node.py`   — compiled nodes and their runtime (filter, whitelist, grok, stash,
                children, statics).
* `tree.py`   — `ParserTree.parse(evt, recorder=None)`: the stage loop.
"""

from crowdsec_mp.engine.parser.loader import find_stage_files, load_parsers, load_postoverflows
from crowdsec_mp.engine.parser.spec import NodeSpec
from crowdsec_mp.engine.parser.tree import ParserTree

__all__ = ["find_stage_files", "load_parsers", "load_postoverflows", "NodeSpec", "ParserTree"]
