"""The one access evaluator: "can this subject do this action on this target right now?"

``evaluator.decide`` is a pure function of (subject, action, target, facts, now). Everything it
needs is loaded beforehand into ``facts.AccessFacts`` by the loader, so REST routes, WebSocket/SSE
subscriptions, emails and search all get the same answer for the same member.
"""
