"""schemathesis hooks for shopguard's run (see schemathesis.toml).

The policy routes take TOML (`application/toml`), which schemathesis has no serializer for:
a TOML body is text, so it goes on the wire as text/plain does.
"""

import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")
