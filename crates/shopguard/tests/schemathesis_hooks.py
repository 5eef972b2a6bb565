"""schemathesis hooks for shopguard's run (see schemathesis.toml).

The policy routes take TOML (`application/toml`), which schemathesis has no serializer for:
a TOML body is text, so it goes on the wire as text/plain does.
"""

import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")

# A policy body is TOML that must compile and pass its own fixtures, which no JSON Schema can
# say: a random string is "schema-valid" and rightly refused (422). For the two policy routes
# the generated text is replaced by a small complete policy, so that a refusal there is a real
# finding; the compiler's handling of arbitrary text is fuzzed by shopguard-core's robustness
# tests instead (docs/decisions/0034-schemathesis.md).
POLICY = """[policy]
name = "schemathesis"

[[rules]]
id = "watched_user"
when = "event.kind == 'login_failed' && event.user_id == 'mallory'"
outcome = "challenge"
reason = "failed logins by a watched user"
"""

POLICY_ROUTES = {("POST", "/v1/policy/check"), ("PUT", "/v1/policy")}


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if (
        operation is not None
        and (operation.method.upper(), operation.path) in POLICY_ROUTES
        and isinstance(body, str)
    ):
        return POLICY
    return body
