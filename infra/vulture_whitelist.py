"""Names vulture (dead-code check, `make lint`) reports that are used, each with its reason.

Vulture reads this file as code that "uses" the names below; it is never imported.
"""

from trader.adapters.coinbase.credentials import SecretProvider

# A Protocol's parameter: it states what Powertools' SecretsProvider.get accepts; the
# protocol has no body that could use it.
SecretProvider.get.max_age  # noqa: B018
