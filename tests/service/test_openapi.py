"""The OpenAPI document is generated from the routes and models, and is a valid document."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from floe_service.app import API_ROUTES
from floe_service.operations import PATH_PARAMS


def test_the_document_is_valid_openapi(service):
    document = service.api("GET", "openapi.json", None).json()
    validate(document)  # raises on any error
    assert document["openapi"] == "3.1.0"


def test_every_route_and_path_parameter_is_described(service):
    document = service.api("GET", "openapi.json", None).json()
    assert set(document["paths"]) == {route.template for route in API_ROUTES}
    operations = 0
    for template, methods in document["paths"].items():
        for method, op in methods.items():
            operations += 1
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", template)), (method, template)
            assert "401" in op["responses"] and op["summary"], (method, template)
    assert operations == 65
    assert set(PATH_PARAMS) >= {"owner", "name", "number", "path", "sha256", "job"}


def test_bodies_and_answers_are_the_models_that_check_them(service):
    document = service.api("GET", "openapi.json", None).json()
    new_job = document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    schema = document["components"]["schemas"][new_job["schema"]["$ref"].rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False and schema["required"] == ["project"]
    assert schema["properties"]["kind"]["enum"] == ["notebook", "command", "snapshot"]
    listing = document["paths"]["/jobs"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"project", "state", "limit", "offset"}
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")["schema"]
    assert limit["minimum"] == 1 and "at most 1000" in limit["description"]
    answer = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["type"] == "array"
