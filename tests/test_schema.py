import pytest

from coordxl import schema


@pytest.mark.parametrize("sheet,field,typed,expected", [
    (schema.TASKS, "status", "已完成", "done"),
    (schema.TASKS, "status", "完成", "done"),
    (schema.TASKS, "status", "Done", "done"),
    (schema.TASKS, "status", "done", "done"),
    (schema.TASKS, "status", " 已 完成 ", "done"),
    (schema.TASKS, "status", "ＤＯＮＥ", "done"),
    (schema.TASKS, "status", "进行中", "in_progress"),
    (schema.TASKS, "status", "受阻", "blocked"),
    (schema.TASKS, "status", "取消", "cancelled"),
    (schema.TASKS, "status", "Not started", "not_started"),
    (schema.REQUEST, "item_status", "已关闭", "closed"),
    (schema.REQUEST, "item_status", "关闭", "closed"),
    (schema.RESOURCES, "kind", "资金", "money"),
    (schema.RESOURCES, "kind", "预算", "money"),
    (schema.RESOURCES, "review", "通过", "passed"),
    (schema.RESOURCES, "approval", "批准", "approved"),
    (schema.RESOURCES, "approval", "驳回", "rejected"),
    (schema.PEOPLE_SHEET, "active", "否", "no"),
    (schema.PEOPLE_SHEET, "is_head", "是", "yes"),
])
def test_enum_aliases_map_to_one_canonical_value(sheet, field, typed, expected):
    assert sheet.field(field).choice_for(typed).key == expected


@pytest.mark.parametrize("typed", ["完成了", "ok", "", "已完成?"])
def test_unknown_choice_is_none(typed):
    assert schema.TASKS.field("status").choice_for(typed) is None


@pytest.mark.parametrize("sheet", schema.ALL_SHEETS, ids=lambda s: s.key)
def test_labels_within_a_part_are_unambiguous(sheet):
    for part in sheet.parts:
        spellings = {}
        for f in part.fields:
            for s in f.spellings():
                owner = spellings.setdefault(schema.fold(s), f.key)
                assert owner == f.key, f"{sheet.key}: {s!r} names both {owner} and {f.key}"


@pytest.mark.parametrize("sheet", schema.ALL_SHEETS, ids=lambda s: s.key)
def test_every_enum_choice_has_both_languages(sheet):
    for f in sheet.fields():
        for c in f.choices:
            assert c.zh and c.en and c.key


def test_design_labels_are_canonical():
    # DESIGN §3a: the Chinese labels staff see
    assert [f.zh for f in schema.TASKS.fields()] == [
        "编号", "任务", "来源", "负责部门", "负责人", "开始日期", "截止日期", "交付标准", "状态", "完成日期",
        "进展说明", "更新日期", "预警"]
    assert [c.zh for c in schema.TASKS.field("status").choices] == ["未开始", "进行中", "已完成", "受阻", "暂停", "已取消"]
    assert [f.zh for f in schema.MINUTES.table("actions").fields] == [
        "序号", "事项", "负责部门", "负责人", "截止日期", "交付标准"]
