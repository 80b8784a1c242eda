"""The auditor view: engagements, seeded record sampling, evidence, findings, coverage, readiness, report.

Modules: `models` (tables), `sampling` (population, IAF MD 1 sizes, seeded draws and their verification),
`coverage` (clause × month matrix), `readiness` (the detectable causes of an abandoned audit), `report`
(xlsx export), `service` (engagements, audit-team grants, findings). Views live in workbench.views.audit.
"""
