"""Lambda entry point of the scheduled trading cycle (template.yaml: CycleFunction)."""

from aws_lambda_powertools import Logger, Metrics

from trader.entrypoints.lambda_cycle import CycleApp

logger = Logger()
metrics = Metrics()
app = CycleApp(logger=logger, metrics=metrics)  # adapters are built on the first event


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return app.handle(event, context)
