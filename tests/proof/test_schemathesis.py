"""Schemathesis over the whole OpenAPI document, against a real server, as three callers: a staff
owner, an API key with every scope, and a member. Each runs on a tenant of its own, seeded with
one of everything, and every path parameter is filled with that tenant's real object
(tests/support/proof.py PATH_PARAMS), so requests reach past the 404s. All of schemathesis's checks
run on every response (no 5xx, documented status codes, content types, headers and bodies).

Bounded: ``MAX_EXAMPLES`` generated cases per operation and caller, no shrinking; deletes (and
logout) run last so that the objects and the session the other operations need are still there. The number of cases run is
printed."""

from __future__ import annotations

import os
import re
import traceback
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.config import SchemathesisConfig

from tests.support.payments import WEBHOOK_SECRET
from tests.support.proof import PATH_PARAMS, Tenant, seed

MAX_EXAMPLES = int(os.environ.get("HUBWIRE_PROOF_EXAMPLES", "3"))
# Every check runs. Schema-valid data may still break a rule a JSON schema cannot state (no NUL
# character in text, an id of nothing, "filter[slug] or filter[id]", a webhook's signature): that is
# a documented 400/422 error document (its shape is checked), so positive_data_acceptance counts them
# as answers, besides its defaults.
CONFIG = SchemathesisConfig.from_str("""
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]
""")
ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
LAST = {"/api/v1/auth/logout"}  # ends the staff session every later case needs


def path_values(tenant: Tenant, names: Any) -> dict[str, str]:
    unknown = sorted(set(names) - set(PATH_PARAMS))
    assert not unknown, f"path parameters with no seeded object (add them to PATH_PARAMS): {unknown}"
    return {n: tenant.ids[PATH_PARAMS[n]] for n in names}


@pytest.mark.parametrize("who", ["staff", "api_key", "member"])
async def test_schemathesis_all_checks(who: str, proof_server: Any, proof_database_url: str) -> None:
    async with httpx.AsyncClient(base_url=proof_server.base, timeout=30.0) as http:
        tenant = await seed(http, proof_database_url, f"st-{who.replace('_', '-')}", WEBHOOK_SECRET)
    headers = tenant.creds[who]
    schema = schemathesis.openapi.from_url(f"{proof_server.base}/schema/openapi.json", config=CONFIG)
    operations = sorted((r.ok() for r in schema.get_all_operations()),
                        key=lambda op: (op.path in LAST, ORDER.get(op.method.upper(), 9), op.path))
    cases = 0
    failures: list[str] = []
    statuses: dict[int, int] = {}

    for op in operations:
        names = re.findall(r"\{(\w+)\}", op.path)
        values = path_values(tenant, names)
        ran = [0]

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            if names:
                case.path_parameters = dict(values)
            ran[0] += 1
            response = case.call(base_url=proof_server.base, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, headers=headers)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (collected for every operation, then reported)
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
            failures.append(f"{op.method.upper()} {op.path}:\n    " + "\n    ".join(
                line for line in text[:40] if line.strip()))
        cases += ran[0]

    print(f"\nschemathesis as {who}: {len(operations)} operations, {cases} cases, {len(failures)} failing operations;"
          f" statuses {dict(sorted(statuses.items()))}")
    assert cases >= len(operations)
    if who != "member":  # staff and keys reach the operations, past authentication and past 404s
        assert sum(n for code, n in statuses.items() if code < 300) > cases // 3, statuses
    assert not failures, "\n".join(failures)
