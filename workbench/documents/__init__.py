"""The written management system, generated from the templates (写所需，做所写，记所做).

- `content`: a procedure's content (程序文件) from one template version; `rules`: required / conditional
  rules of a form in words; `manual`: the management manual (管理手册) from the organization's records;
- `control`: the document register, approval with an e-signature, successors on adoption, periodic review;
- `departures`: the 两张皮 detector (written versus done); `asof`: record, procedure and template at a date;
- `docx` / `svg`: outputs. Views are in `workbench.views.documents`.
"""


def due_reviews(db, org, today=None):
    """Documents in force whose periodic review is overdue or due soon (`control.due_reviews`), for the
    to-do and due lists and the readiness check. Imported lazily: workbench.models imports this package."""
    from workbench.documents.control import due_reviews as find

    return find(db, org, today)
