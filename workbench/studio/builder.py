"""The visual builder: pure functions on a template dict, and the builder's form view-model.

Every operation takes a template (see docs/template-format.md) and returns a *new* dict; the input is never
modified. Operations keep the template consistent: removing or renaming a field also updates `required`,
conditions (`allOf` if/then), `ui` hints, workflow `requires`, the schedule and the `examples`.

    t = new_template("forklift-check", "叉车日检", "Forklift daily check", [("ISO 45001:2018", "8.1.2")])
    t = add_field(t, "result", "choice", "结论", "Result", options=[("ok", "正常", "OK"), ("ng", "异常", "Not OK")])
    t = add_field(t, "action", "textarea", "处理措施", "Action taken")
    t = set_condition(t, "action", "result", ["ng"])        # shown (and required) when result = ng

Field paths are dotted: "result" (top level), "items.item" (a column of the table "items"), "supplier.name"
(a field of the section "supplier").

This module only re-exports; each concept has its own module:

- `common`      types, BuilderError, paths and lookups, examples kept valid
- `fields`      add / remove / rename / retype fields, labels (unique among siblings), options, limits
- `order`       moving fields: up / down, or to a position (drag and drop)
- `conditions`  required fields and "shown when" conditions
- `settings`    key, title, clauses, record list, headings, schedule
- `workflow`    states, steps, initial state
- `viewmodel`   `describe(t)` (the builder page's view-model) and `to_form(t)`
- `form`        `apply_form` (posted values), `apply_action` (buttons), validation errors → builder fields
"""
from __future__ import annotations

from workbench.studio.common import (  # noqa: F401
    TYPES, CONTAINERS, CHILD_TYPES, ADVANCED, ROLES, COMMENT_MODES, KEY_RE, TEMPLATE_KEY_RE, STATE_RE, BuilderError,
    i18n, _copy, split, parent_of, key_of, _container, get_field, has_field, field_type, hint_of, type_of,
    _options_of, top_order, children_order, field_paths,
)
from workbench.studio.conditions import (  # noqa: F401
    condition_of, is_required, set_required, set_condition,
)
from workbench.studio.workflow import (  # noqa: F401
    default_workflow, add_state, rename_state, remove_state, add_transition, remove_transition, set_workflow, set_locked,
)
from workbench.studio.fields import (  # noqa: F401
    new_template, make_field, free_key, add_field, remove_field, rename_field, set_label, set_help,
    set_type, in_table, set_options, set_limits, set_widget,
)
from workbench.studio.order import move_field, move_field_to  # noqa: F401
from workbench.studio.settings import (  # noqa: F401
    set_meta, set_clauses, set_list_columns, set_title_field, set_headings, set_field_heading, set_schedule,
)
from workbench.studio.viewmodel import (  # noqa: F401
    code, dom, describe, _walk, field_inputs, to_form,
)
from workbench.studio.form import (  # noqa: F401
    FormErrors, apply_form, apply_action, suggest_key, parse_path, error_field, error_tab,
)
