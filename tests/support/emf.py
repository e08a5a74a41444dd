"""What the handlers print on stdout, read back as CloudWatch would: EMF metrics and log lines.

Each EMF line declares, per dimension set, the metrics CloudWatch extracts from it; every
(namespace, name, dimension values) is one billed custom metric (`Metric` here).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Metric:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # sorted (name, value) pairs

    @classmethod
    def of(cls, namespace: str, name: str, **dimensions: str) -> Metric:
        return cls(namespace, name, tuple(sorted(dimensions.items())))


def log_to_this_stdout(service: str) -> None:
    """Point the Powertools logger of `service` at the current sys.stdout (capsys's, in a test).

    Powertools keeps one handler per service name, writing to the stdout it found when the
    first Logger of that name was made: another test's capture, closed by now."""
    for handler in logging.getLogger(service).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stdout  # not setStream: it flushes the old, closed one


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def metric_values(text: str) -> list[tuple[Metric, float]]:
    """(metric, value) for every value of every metric in every EMF line, in order."""
    found = []
    for line in json_lines(text):
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                dims = tuple(sorted((d, str(line[d])) for d in dimension_set))
                for declared in directive["Metrics"]:
                    values = line[declared["Name"]]
                    for value in values if isinstance(values, list) else [values]:
                        metric = Metric(directive["Namespace"], declared["Name"], dims)
                        found.append((metric, float(value)))
    return found


def metrics_emitted(text: str) -> set[Metric]:
    return {metric for metric, _ in metric_values(text)}


def needs_operator_kinds(text: str) -> list[str]:
    """The `needs_operator` kinds of the log lines that name one, in order."""
    return [line["needs_operator"] for line in json_lines(text) if "needs_operator" in line]
