"""The OpenAPI 3.1 document of `/api/v1`, generated: the paths below plus, when a token names an organization,
each of its adopted processes' record schema as a component (`Record_<key>`), so a client can validate before
posting. Without a token the document lists the paths and the generic record shape."""
from __future__ import annotations

import re

from flask import g, has_request_context

PROBLEM = {"$ref": "#/components/responses/Problem"}


def record_schema_name(key: str) -> str:
    return "Record_" + re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def _p(name: str, where: str = "path", schema: dict | None = None, required: bool | None = None) -> dict:
    return {"name": name, "in": where, "required": where == "path" if required is None else required,
            "schema": schema or {"type": "string"}}


ORG, KEY = _p("org", schema={"type": "string", "pattern": "^[a-z0-9-]{1,64}$"}), _p("key")
RID = _p("record_id", schema={"type": "integer", "minimum": 1, "maximum": 2**53})
AID = _p("attachment_id", schema={"type": "integer", "minimum": 1, "maximum": 2**53})


def _ok(schema_ref: str, code: str = "200", extra: tuple[str, ...] = ("401", "403", "404", "422", "429")) -> dict:
    out = {code: {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}}
    out.update({c: PROBLEM for c in extra})
    return out


def paths() -> dict:
    rec = "#/components/schemas/Record"
    return {
        "/o/{org}/processes": {"get": {"operationId": "listProcesses", "parameters": [ORG],
                                       "responses": _ok("#/components/schemas/ProcessList")}},
        "/o/{org}/processes/{key}/records": {
            "get": {"operationId": "listRecords", "parameters": [
                ORG, KEY, _p("q", "query"), _p("state", "query"), _p("by", "query", {"type": "integer"}),
                _p("from", "query", {"type": "string", "format": "date"}),
                _p("to", "query", {"type": "string", "format": "date"}), _p("sort", "query"),
                _p("dir", "query", {"type": "string", "enum": ["asc", "desc"]}),
                _p("page", "query", {"type": "integer", "minimum": 1, "maximum": 100000}),
                _p("per_page", "query", {"type": "integer", "minimum": 1, "maximum": 200})],
                "responses": _ok("#/components/schemas/RecordPage")},
            "post": {"operationId": "createRecord", "parameters": [ORG, KEY],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/RecordInput"}}}},
                     "responses": _ok(rec, "201", ("400", "401", "403", "404", "409", "422", "429"))}},
        "/o/{org}/records/{record_id}": {
            "get": {"operationId": "getRecord", "parameters": [ORG, RID], "responses": _ok(rec)},
            "put": {"operationId": "editRecord",
                    "parameters": [ORG, RID, _p("If-Match", "header", {"type": "string"}, True)],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/RecordInput"}}}},
                    "responses": _ok(rec, "200", ("400", "401", "403", "404", "409", "422", "428", "429"))}},
        "/o/{org}/records/{record_id}/transitions": {
            "post": {"operationId": "takeTransition", "parameters": [ORG, RID],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/TransitionInput"}}}},
                     "responses": _ok(rec, "200", ("400", "401", "403", "404", "409", "422", "429"))}},
        "/o/{org}/records/{record_id}/attachments/{field}": {
            "post": {"operationId": "uploadAttachment",
                     "parameters": [ORG, RID, _p("field"), _p("If-Match", "header", {"type": "string"}, True)],
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "required": ["file"],
                         "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"},
                                        "comment": {"type": "string"}}}}}},
                     "responses": _ok(rec, "200", ("400", "401", "403", "404", "409", "422", "428", "429"))}},
        "/o/{org}/attachments/{attachment_id}": {
            "get": {"operationId": "downloadAttachment", "parameters": [ORG, AID],
                    "responses": {"200": {"description": "The file",
                                          "content": {"application/octet-stream": {"schema": {}}}},
                                  **{c: PROBLEM for c in ("401", "403", "404", "429")}}}},
        "/o/{org}/records/{record_id}/events": {
            "get": {"operationId": "recordEvents", "parameters": [ORG, RID],
                    "responses": _ok("#/components/schemas/EventList")}},
        "/o/{org}/events": {
            "get": {"operationId": "chainSegment", "parameters": [
                ORG, _p("from", "query", {"type": "integer", "minimum": 1, "maximum": 2**53}),
                _p("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500})],
                "responses": _ok("#/components/schemas/EventList")}},
        "/o/{org}/audit/engagements": {
            "get": {"operationId": "auditEngagements", "parameters": [ORG],
                    "responses": _ok("#/components/schemas/EngagementList")}},
    }


NULLABLE_STR = {"type": ["string", "null"]}
SCHEMAS = {
    "Problem": {"type": "object", "required": ["title", "status"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}}}},
    "Record": {"type": "object", "required": ["id", "process", "state", "revision", "data"], "properties": {
        "id": {"type": "integer"}, "process": {"type": "string"}, "state": {"type": "string"},
        "revision": {"type": "integer"}, "title": {"type": "string"}, "record_date": NULLABLE_STR,
        "data": {"type": "object"}, "created_at": {"type": "string"}, "updated_at": {"type": "string"}}},
    "RecordPage": {"type": "object", "required": ["items", "page", "per_page", "total"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}, "page": {"type": "integer"},
        "per_page": {"type": "integer"}, "total": {"type": "integer"}}},
    "RecordInput": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "object", "description": "The record's fields: see the process's Record_<key> schema"},
        "comment": {"type": "string"}}},
    "TransitionInput": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "comment": {"type": "string"}, "revision": {"type": "integer"}}},
    "Process": {"type": "object", "required": ["key", "version", "schema"], "properties": {
        "key": {"type": "string"}, "version": {"type": "integer"}, "title": {}, "states": {},
        "schema": {"type": "object"}, "schema_ref": {"type": "string"}}},
    "ProcessList": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Process"}}}},
    "Event": {"type": "object", "required": ["seq", "action", "hash", "prev_hash"], "properties": {
        "seq": {"type": "integer"}, "record_id": {"type": ["integer", "null"]}, "action": {"type": "string"},
        "actor": {"type": "string"}, "at": {"type": "string"}, "from_state": NULLABLE_STR, "to_state": NULLABLE_STR,
        "comment": {"type": "string"}, "detail": {"type": "object"}, "data_digest": {"type": "string"},
        "prev_hash": {"type": "string"}, "hash": {"type": "string"}}},
    "EventList": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}},
    "EngagementList": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"type": "object"}}}},
}


def _process_schemas() -> dict:
    """Each adopted process's record schema, for the organization the request's token names."""
    if not has_request_context() or getattr(g, "api_org_for_doc", None) is None:
        return {}
    from workbench import library
    from workbench.db import get_session

    return {record_schema_name(t.key): {**t.body["schema"], "title": t.key}
            for t in library.processes(get_session(), g.api_org_for_doc)}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "ProcessBench API", "version": "1",
                 "description": "Records of ISO 9001/14001/45001 processes. Errors are RFC 9457 problem details."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                          "description": "Personal access token (pbt_…), scopes read / write / audit-read"}},
            "responses": {"Problem": {"description": "RFC 9457 problem details",
                                      "content": {"application/problem+json": {
                                          "schema": {"$ref": "#/components/schemas/Problem"}}}}},
            "schemas": {**SCHEMAS, **_process_schemas()},
        },
    }
