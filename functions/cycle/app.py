"""Lambda entry point of the scheduled trading cycle (template.yaml: CycleFunction)."""

from aws_lambda_powertools import Logger, Metrics

from trader.entrypoints.lambda_cycle import CycleApp

logger = Logger()
metrics = Metrics()  # namespace and service only: each count is printed when made
app = CycleApp(logger=logger, metrics=metrics)  # adapters are built on the first event


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return app.handle(event, context)
