"""Import existing records of a process from an xlsx or csv file (issue #14 part 4).

`files` keeps the upload server-side between preview and commit (by SHA-256, per organization), `reader`
streams sheets (xlsx through workbench.xlsxsafe, csv UTF-8 / GB18030), `cells` turns spreadsheet cells into the
strings the record form posts (dates, enum labels, 是/否), `mapping` matches columns to fields, and `service`
runs every row through the record service's checks (`workbench.services.records`) — `preview` stores nothing,
`commit` re-streams and creates every record or none.
"""
