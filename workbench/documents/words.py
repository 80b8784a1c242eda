"""The fixed wording of generated documents, per document language (not the UI language: an English
procedure can be generated from a Chinese session). Terms as Chinese QMS practitioners use them."""
from __future__ import annotations

ROLES = {
    "zh": {"member": "员工（成员）", "manager": "管理者", "consultant": "顾问", "admin": "系统管理员", "auditor": "审核员"},
    "en": {"member": "Member (staff)", "manager": "Manager", "consultant": "Consultant", "admin": "Administrator",
           "auditor": "Auditor"},
}

STATUS = {
    "zh": {"draft": "草稿（待批准）", "in_force": "现行有效", "superseded": "已作废（被替代）"},
    "en": {"draft": "Draft (awaiting approval)", "in_force": "In force", "superseded": "Superseded"},
}

W = {
    "zh": {
        "procedure": "程序文件", "manual": "管理手册", "number": "文件编号", "version": "版本", "effective": "生效日期",
        "approver": "批准人", "signature": "电子签名", "status": "状态", "next_review": "下次评审日期",
        "history": "修订记录", "purpose": "1 目的和范围", "clauses": "2 对应标准条款", "responsibilities": "3 职责",
        "flow": "4 工作流程", "frequency": "5 频次和触发条件", "records": "6 记录（保留的成文信息）",
        "related": "7 相关程序", "appendix": "附录 空白表单", "field": "字段", "type": "类型", "rule": "填写要求",
        "step": "步骤", "from": "从", "to": "到", "who": "执行角色", "requires": "须先填写", "comment": "意见",
        "sign": "签名含义", "comment_required": "必须填写意见", "none": "—", "as_needed": "按需（事件发生时）启动，无固定频次。",
        "every": "每 {n} 个月至少一次，以「{field}」计；自上一次已完成记录起算。",
        "due": "每个「{subject}」按其最近一次记录中的「{field}」到期；到期前 {warn} 天提醒。",
        "due_nosubject": "按记录中的「{field}」到期；到期前 {warn} 天提醒。",
        "initial": "记录创建后处于「{state}」状态。", "final": "「{state}」为结束状态。",
        "role_does": "{role}：{steps}", "no_steps": "不参与本流程的步骤", "answered_by": "由「{title}」回应（{field}）",
        "answers": "回应「{title}」（{field}）", "not_approved": "未批准", "v": "第 {v} 版", "changes": "变更内容",
        "first": "首次发布", "standard": "标准", "clause": "条款", "title": "名称", "processes": "实施过程",
        "records_col": "证据记录", "gap": "缺口：无已采用的过程覆盖", "system": "由成文的管理体系本身满足（本手册及程序文件）",
        "scope": "1 范围", "policy": "2 方针", "roles": "3 组织结构与职责", "clause_table": "4 条款对照表",
        "gaps": "5 缺口", "none_found": "无", "role": "角色", "people": "人员", "takes_part": "参与的过程",
        "no_record": "（尚无已批准的记录：请完成「{title}」记录）", "org": "组织", "standards": "覆盖标准",
        "records_n": "{n} 条记录，最近 {d}", "no_records": "尚无记录", "page": "页", "date": "日期",
        "value": "填写", "draft_mark": "草稿", "superseded_mark": "已作废", "approved_on": "于 {d} 批准", "template": "来源模板", "authority": "职责和权限", "appointee": "被任命人", "appointed_role": "任命职务",
    },
    "en": {
        "procedure": "Procedure", "manual": "Management manual", "number": "Document no.", "version": "Version",
        "effective": "Effective date", "approver": "Approved by", "signature": "E-signature", "status": "Status",
        "next_review": "Next review", "history": "Change history", "purpose": "1 Purpose and scope",
        "clauses": "2 Clauses served", "responsibilities": "3 Responsibilities", "flow": "4 Flow",
        "frequency": "5 Frequency and triggers", "records": "6 Records retained (documented information)",
        "related": "7 Related procedures", "appendix": "Appendix: blank form", "field": "Field", "type": "Type",
        "rule": "Rules", "step": "Step", "from": "From", "to": "To", "who": "Role", "requires": "Requires",
        "comment": "Comment", "sign": "Signature meaning", "comment_required": "comment required", "none": "—",
        "as_needed": "Started as needed (when the event occurs); no fixed frequency.",
        "every": "At least once every {n} months, dated by “{field}”, counted from the latest completed record.",
        "due": "Each “{subject}” falls due on the “{field}” of its latest record; reminded {warn} days before.",
        "due_nosubject": "Falls due on the record's “{field}”; reminded {warn} days before.",
        "initial": "A new record starts in “{state}”.", "final": "“{state}” is a final state.",
        "role_does": "{role}: {steps}", "no_steps": "takes no step of this process",
        "answered_by": "answered by “{title}” ({field})", "answers": "answers “{title}” ({field})",
        "not_approved": "not approved", "v": "version {v}", "changes": "Changes", "first": "First issue",
        "standard": "Standard", "clause": "Clause", "title": "Title", "processes": "Processes", "records_col": "Evidence",
        "gap": "Gap: no adopted process serves it", "system": "Served by the documented system itself (this manual and the procedures)",
        "scope": "1 Scope", "policy": "2 Policy", "roles": "3 Organization and responsibilities",
        "clause_table": "4 Clause table", "gaps": "5 Gaps", "none_found": "none", "role": "Role", "people": "People",
        "takes_part": "Takes part in", "no_record": "(no approved record yet: complete a “{title}” record)",
        "org": "Organization", "standards": "Standards", "records_n": "{n} records, latest {d}", "no_records": "no records yet",
        "page": "page", "date": "Date", "value": "Entry", "draft_mark": "DRAFT", "superseded_mark": "SUPERSEDED",
        "approved_on": "approved on {d}", "template": "Source template", "authority": "Responsibilities and authorities", "appointee": "Appointee", "appointed_role": "Appointed as",
    },
}


def words(lang: str) -> dict[str, str]:
    return W["en" if lang == "en" else "zh"]


def role_name(role: str, lang: str) -> str:
    return ROLES["en" if lang == "en" else "zh"].get(role, role)


def status_name(status: str, lang: str) -> str:
    return STATUS["en" if lang == "en" else "zh"].get(status, status)
