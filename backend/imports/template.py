"""The blank file a county fills: the headers, one example row, and what each column allows."""
from __future__ import annotations

import csv
from pathlib import Path

from backend.imports.columns import KINDS, Column

SHEET_TITLES = {"residents": "居民健康档案", "conditions": "慢病管理登记", "contracts": "签约服务协议",
                "follow-ups": "慢病随访记录"}
HELP_TITLE = "填写说明"
# Columns Excel would turn into numbers (losing an identity number's last digits) are text.
_TEXT_FIELDS = {"id_number", "phone", "region_code", "package_codes"}


def write_template(kind: str, path: Path) -> None:
    """An .xlsx (first sheet to fill, second sheet the allowed values), or a .csv when ``path``
    ends so (the headers and the example row, UTF-8 with a byte-order mark for Excel)."""
    columns = KINDS[kind]
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([c.header for c in columns])
            writer.writerow([c.example for c in columns])
        return
    _write_xlsx(kind, columns, path)


def help_rows(columns: tuple[Column, ...]) -> list[list[str]]:
    return [["列名", "是否必填", "可填写的值", "示例"]] + [
        [c.header, "必填" if c.required else "选填", c.allowed, c.example] for c in columns]


def _write_xlsx(kind: str, columns: tuple[Column, ...], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_TITLES[kind]
    sheet.append([c.header for c in columns])
    sheet.append([c.example for c in columns])
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index).font = Font(bold=True)
        sheet.column_dimensions[letter].width = max(12, len(column.example) + 4)
        if column.field in _TEXT_FIELDS:
            for row in range(2, 1002):  # the first thousand rows typed as text
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet(HELP_TITLE)
    for row in help_rows(columns):
        notes.append(row)
    notes.append([])
    notes.append(["导入时只读第一个工作表；第2行是示例，请删除或改为真实数据。不要合并单元格，不要使用公式。"])
    for letter, width in (("A", 14), ("B", 10), ("C", 70), ("D", 22)):
        notes.column_dimensions[letter].width = width
    for cell in notes[1]:
        cell.font = Font(bold=True)
    workbook.save(path)
