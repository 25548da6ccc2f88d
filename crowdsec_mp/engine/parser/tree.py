"""`ParserTree`: the stage loop over compiled nodes (spec/parsers.md §2).

`parse(evt, recorder=None)` mutates and returns `evt`. After parsing,
`evt.Process` tells whether every stage was passed; the caller drops events
with `Process == False` and does not pour whitelisted ones.

`recorder(stage, node_name, snapshot, success)` is called after each top-level
node with a deep copy of the event (hubtest results, explain). Without a
recorder no copy is made.
"""

from __future__ import annotations

import logging

from crowdsec_mp.engine.event import ZERO_TIME
from crowdsec_mp.engine.parser.values import StaticAbort

log = logging.getLogger(__name__)


class ParserTree:
    def __init__(self, nodes, order, ctx):
        self.nodes = nodes
        self._order = order
        self.ctx = ctx
        self.stage_index = {stage: i for i, stage in enumerate(order.stages)}
        # Per-stage node lists in global load order, precomputed for the hot path.
        self._stage_nodes = [
            (stage, index, [node for node in nodes if node.stage == stage])
            for index, stage in enumerate(order.stages)
        ]

    @property
    def stages(self) -> list[str]:
        return self._order.stages

    def __len__(self):
        return len(self.nodes)

    def parse(self, evt, recorder=None):
        stages = self._order.stages
        if not evt.Stage and stages:
            evt.Stage = stages[0]
        evt.Process = False
        if evt.Time is ZERO_TIME or evt.Time == ZERO_TIME:
            evt.Time = self.ctx.clock()
        env = {"evt": evt}
        stage_index = self.stage_index
        try:
            for stage, index, nodes in self._stage_nodes:
                current = stage_index.get(evt.Stage, -1)
                if current > index:
                    continue  # the event was injected at a later stage
                if evt.Stage != stage:
                    return evt  # the previous stage did not promote it: dropped
                stage_ok = False
                for node in nodes:
                    ok = node.process(evt, env)
                    if recorder is not None:
                        recorder(stage, node.name, evt.copy(), ok)
                    if ok:
                        stage_ok = True
                        if node.next_stage:
                            break
                    if evt.Stage != stage:
                        break
                if not stage_ok:
                    return evt
        except StaticAbort as exc:
            # CrowdSec aborts this event's parse with an error: drop it.
            log.warning("parse aborted for line %r: %s", evt.Line.Raw[:200], exc)
            evt.Process = False
            return evt
        evt.Process = True
        return evt
