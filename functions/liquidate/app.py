"""Lambda entry point of liquidation to USDC (template.yaml: LiquidateFunction, invoked by hand)."""

from aws_lambda_powertools import Logger

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    logger.error("liquidation is not implemented yet; nothing was sold", extra={"request": event})
    return {"ok": False, "error": "NotImplemented: liquidation is not implemented yet"}
