"""Field-level validation messages in zh and en.

The generated forms are usable outside the Flask app (tests, exports), so their few messages live here
as a bilingual table rather than in the app's gettext catalogue.
"""
from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"zh": "此项为必填", "en": "This field is required"},
    "required_when": {"zh": "当“{field}”已填写时此项为必填", "en": "Required when “{field}” is filled in"},
    "integer": {"zh": "请输入整数", "en": "Enter a whole number"},
    "number": {"zh": "请输入数字", "en": "Enter a number"},
    "boolean": {"zh": "请选择是或否", "en": "Choose yes or no"},
    "enum": {"zh": "请从选项中选择", "en": "Choose one of the options"},
    "date": {"zh": "请输入有效日期（年-月-日）", "en": "Enter a valid date (YYYY-MM-DD)"},
    "date-time": {"zh": "请输入有效的日期时间", "en": "Enter a valid date and time"},
    "email": {"zh": "请输入有效的电子邮箱", "en": "Enter a valid email address"},
    "minimum": {"zh": "不能小于 {limit}", "en": "Must be at least {limit}"},
    "maximum": {"zh": "不能大于 {limit}", "en": "Must be at most {limit}"},
    "exclusiveMinimum": {"zh": "必须大于 {limit}", "en": "Must be greater than {limit}"},
    "exclusiveMaximum": {"zh": "必须小于 {limit}", "en": "Must be less than {limit}"},
    "minLength": {"zh": "至少需要 {limit} 个字符", "en": "Enter at least {limit} characters"},
    "maxLength": {"zh": "不能超过 {limit} 个字符", "en": "Enter at most {limit} characters"},
    "pattern": {"zh": "格式不正确", "en": "This value is not in the expected format"},
    "minItems": {"zh": "至少需要 {limit} 项", "en": "Add at least {limit} entries"},
    "maxItems": {"zh": "最多 {limit} 项", "en": "Add at most {limit} entries"},
    "uniqueItems": {"zh": "不能有重复项", "en": "Entries must not repeat"},
    "const": {"zh": "取值不符合要求", "en": "This value is not allowed here"},
    "oneOf": {"zh": "请完整填写所选类别对应的字段", "en": "Complete the fields for the chosen kind"},
    "type": {"zh": "类型不正确", "en": "This value has the wrong type"},
    "additionalProperties": {"zh": "包含未定义的字段", "en": "Contains fields the form does not define"},
    "invalid": {"zh": "取值无效", "en": "This value is not valid"},
    "too_big": {"zh": "数值太大", "en": "This number is too large"},
    "too_large": {"zh": "文件太大（上限 {limit} MB）", "en": "The file is too large (limit {limit} MB)"},
    "empty": {"zh": "文件是空的", "en": "The file is empty"},
    "file_type": {"zh": "只接受 PDF、PNG、JPEG、GIF、xlsx、docx 文件", "en": "Only PDF, PNG, JPEG, GIF, xlsx and docx files are accepted"},
    "link": {"zh": "请从列表中选择本组织的记录", "en": "Choose a record of this organization from the list"},
}


def message(key: str, lang: str = "zh", **kw) -> str:
    table = MESSAGES.get(key) or MESSAGES["invalid"]
    text = table.get(lang) or table["en"]
    try:
        return text.format(**kw)
    except (KeyError, IndexError):
        return text
