"""Lambda entry point of liquidation to USDC (template.yaml: LiquidateFunction, invoked by hand)."""

from aws_lambda_powertools import Logger, Metrics

from trader.entrypoints.lambda_liquidate import LiquidateApp

logger = Logger()
metrics = Metrics()  # namespace and service only: each count is printed when made
app = LiquidateApp(logger=logger, metrics=metrics)  # adapters are built on the first request


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return app.handle(event, context)
