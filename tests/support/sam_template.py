"""template.yaml through AWS's own SAM translator, then its conditions resolved as a deploy would.

`deployed(parameters)` is what CloudFormation would create for those parameter values: the
SAM resources expanded by samtranslator (the library `sam build`/`sam deploy` and CloudFormation's
transform use), then every `Fn::If` and `AWS::NoValue` resolved under the template's conditions.
Only the intrinsics conditions use are evaluated (If, Equals, Not, And, Or, Ref to a parameter or
to AWS::NoValue); the others (GetAtt, Sub, FindInMap...) are left as CloudFormation would get them.
"""

from __future__ import annotations

import copy
from typing import Any

import boto3
from aws_resources import load_template

NO_VALUE = object()  # what `Ref: AWS::NoValue` leaves: the property is absent
LOCAL_URIS = ("CodeUri", "ContentUri")  # `sam package` replaces these with s3:// URIs


def transformed(parameters: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template samtranslator makes of template.yaml (conditions unresolved)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = load_template()
    for resource in template["Resources"].values():
        for uri in LOCAL_URIS:
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://packaged-artifacts/key"
    session = boto3.Session(region_name="us-east-1")  # the translator needs a region, no call
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(template, parameter_values=dict(parameters))


def deployed(parameters: dict[str, str]) -> dict[str, Any]:
    """The resources CloudFormation would create for these parameter values (conditions applied)."""
    template = transformed(parameters)
    values = _parameter_values(template, parameters)
    conditions: dict[str, bool] = {}
    for name, expression in template.get("Conditions", {}).items():
        conditions[name] = bool(_resolve(expression, values, conditions))
    resources = {}
    for name, resource in template["Resources"].items():
        if conditions.get(resource.get("Condition", ""), True):
            resources[name] = _resolve(copy.deepcopy(resource), values, conditions)
    return resources


def _parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    unknown = set(given) - set(declared)
    if unknown:
        raise KeyError(f"not parameters of template.yaml: {sorted(unknown)}")
    return {name: str(given.get(name, spec.get("Default", ""))) for name, spec in declared.items()}


def _resolve(value: Any, params: dict[str, str], conditions: dict[str, bool]) -> Any:
    if isinstance(value, list):
        items = [_resolve(v, params, conditions) for v in value]
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), *_ = value.items()
        if key.startswith("Fn::") or key in {"Ref", "Condition"}:
            return _intrinsic(key, arg, params, conditions)
    resolved = {k: _resolve(v, params, conditions) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def _intrinsic(key: str, arg: Any, params: dict[str, str], conditions: dict[str, bool]) -> Any:
    if key == "Fn::If":
        name, then, otherwise = arg
        return _resolve(then if conditions[name] else otherwise, params, conditions)
    if key == "Condition":
        return conditions[arg]
    if key == "Ref":
        if arg == "AWS::NoValue":
            return NO_VALUE
        return params.get(arg, {"Ref": arg})  # a resource's Ref stays as it is
    if key == "Fn::Equals":
        left, right = (_resolve(a, params, conditions) for a in arg)
        return str(left) == str(right)
    if key == "Fn::Not":
        return not _resolve(arg[0], params, conditions)
    if key == "Fn::And":
        return all(_resolve(a, params, conditions) for a in arg)
    if key == "Fn::Or":
        return any(_resolve(a, params, conditions) for a in arg)
    return {key: arg}  # GetAtt, Sub, FindInMap...: left for CloudFormation
