"""The consultant studio: low-code template authoring (builder, live preview, versions, import/export).

- `builder`  pure functions on a template dict (add/move/remove fields, conditions, workflow…) and the
             builder's form view-model (`describe`, `to_form`, `apply_form`); it re-exports `common`,
             `fields`, `conditions`, `settings`, `workflow`, `viewmodel` and `form`, one concept each
- `versions` publish a draft as an immutable ProcessTemplate version; diff two versions
- `io`       template packs (JSON) and Excel sheets (one row per field)
- `models`   StudioDraft: editable work, owned by an organization or by a consultant (personal library)

The views are in workbench/views/studio/.
"""
