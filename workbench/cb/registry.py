"""Public-registry facts the certification body verifies by hand (offline here): the unified social credit
code (统一社会信用代码, GB 32100-2015) and the pollutant-discharge permit, each with a link to the registry's
search page (国家企业信用信息公示系统, 信用中国, 全国排污许可证管理信息平台)."""
from __future__ import annotations

from flask_babel import gettext as _

from workbench.errors import UserError

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3^(i-1) mod 31
REGISTRY_LINKS = {
    "gsxt": ("国家企业信用信息公示系统", "https://www.gsxt.gov.cn/index.html"),
    "creditchina": ("信用中国", "https://www.creditchina.gov.cn/"),
    "permit": ("全国排污许可证管理信息平台", "https://permit.mee.gov.cn/permitExt/outside/default.jsp"),
}


def check_character(first17: str) -> str:
    total = sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS))
    c = 31 - total % 31
    return CHARSET[0 if c == 31 else c]


def normalize(code: str) -> str:
    return (code or "").strip().upper().replace(" ", "")


def is_valid(code: str) -> bool:
    code = normalize(code)
    return len(code) == 18 and all(c in CHARSET for c in code) and check_character(code[:17]) == code[17]


def validate(code: str) -> str:
    """The normalized code, or a UserError saying what is wrong (field `credit_code`)."""
    c = normalize(code)
    if len(c) != 18:
        raise UserError(_("A unified social credit code has 18 characters."), field="credit_code")
    bad = sorted({ch for ch in c if ch not in CHARSET})
    if bad:
        raise UserError(_("Characters not allowed in a unified social credit code: %(chars)s.", chars=" ".join(bad)),
                        field="credit_code")
    if check_character(c[:17]) != c[17]:
        raise UserError(_("The check character does not match (GB 32100-2015): expected %(c)s.", c=check_character(c[:17])),
                        field="credit_code")
    return c


def links(kind: str = "credit") -> list[tuple[str, str]]:
    keys = ("gsxt", "creditchina") if kind == "credit" else ("permit",)
    return [REGISTRY_LINKS[k] for k in keys]
