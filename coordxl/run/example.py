"""The bundled example folder: 市场部 coordinating 产品部, 销售部 and 设计部 for the Q3 launch.

Every date is fixed, and :data:`DEMO_TODAY` is the day the demo pretends it is,
so the example always shows overdue, due-soon, stale, blocked and done rows.
Planted mistakes staff really make, which ``coordxl check`` must find:

- 执行进度 T08: owner typed 刘阳 (the roster has 刘洋)               → F-PERSON
- 执行进度 T09: due date typed as text "2026/8/19" (read fine)
- 执行进度 T11: start date typed as "下周一"                         → F-DATE
- 会议纪要 action item 5 has no delivery standard                   → R-ACTION-INCOMPLETE
- minutes sent 42 hours after the meeting                          → R-MINUTES-24H
- follow-up meeting of 2026-08-12 ran 45 minutes                   → R-FOLLOWUP
- resource request R03 approved before it was reviewed              → R-RESOURCE-REVIEW

Regenerate with ``python -m coordxl.run.example workbooks/example``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from ..settings import CONFIG_NAME, render_config
from ..state.layout import ITEM_TEMPLATE, ROSTER_TEMPLATE
from . import templates
from .folder import _save_new

DEMO_TODAY = dt.date(2026, 8, 20)
LANG = "zh"
D = dt.date
T = dt.datetime

PEOPLE = [
    # name, department, email, manager, head, active, title
    ("王海", "运营中心", "wanghai@corp.example", "", "yes", "yes", "运营总监"),
    ("李娜", "市场部", "lina@corp.example", "王海", "yes", "yes", "市场部经理"),
    ("张伟", "市场部", "zhangwei@corp.example", "李娜", "no", "yes", "市场专员"),
    ("刘洋", "市场部", "liuyang@corp.example", "李娜", "no", "yes", "活动策划"),
    ("陈静", "产品部", "chenjing@corp.example", "王海", "yes", "yes", "产品总监"),
    ("赵磊", "产品部", "zhaolei@corp.example", "陈静", "no", "yes", "产品经理"),
    ("孙丽", "销售部", "sunli@corp.example", "王海", "yes", "yes", "销售总监"),
    ("周强", "销售部", "zhouqiang@corp.example", "孙丽", "no", "yes", "渠道经理"),
    ("吴敏", "销售部", "wumin@corp.example", "孙丽", "no", "yes", "培训专员"),
    ("郑爽", "设计部", "zhengshuang@corp.example", "王海", "yes", "yes", "设计主管"),
    ("冯雪", "设计部", "fengxue@corp.example", "郑爽", "no", "yes", "视觉设计师"),
    ("马超", "销售部", "machao@corp.example", "孙丽", "no", "no", "大客户经理"),
]
DEPARTMENTS = [("运营中心", "王海"), ("市场部", "李娜"), ("产品部", "陈静"), ("销售部", "孙丽"), ("设计部", "郑爽")]

LAUNCH = "Q3新品上市推广"
LAUNCH_REQUEST = dict(
    topic="Q3新品上市推广协调",
    initiating_department="市场部",
    initiator="张伟",
    participants="产品部（陈静、赵磊）、销售部（孙丽、周强）、设计部（郑爽、冯雪）",
    background="公司计划于9月上旬上市“轻氧”系列新品。为保证上市节奏，需要产品、销售、设计三个部门与市场部"
               "统一卖点、物料、渠道与发布会安排。",
    problems="1. 新品核心卖点与产品参数尚未统一；2. 主视觉与包装设计排期不明确；3. 渠道铺货与定价政策待定；"
             "4. 发布会预算与分工待确认。",
    expected_outcome="7月底前确定卖点、主视觉和推广方案；8月中旬完成渠道铺货与销售培训；8月28日前完成发布会筹备。",
    prior_alignment="7月3日已与陈静、孙丽分别一对一沟通，对上市时间无异议；设计部排期需会上确认。",
    attachments="新品资料包v0.9.pdf；竞品分析.xlsx",
    sent_on=D(2026, 7, 6),
    planned_meeting=T(2026, 7, 8, 14, 0),
    item_status="active",
    group="q3-launch",
)
LAUNCH_MINUTES = dict(
    topic="Q3新品上市推广协调会",
    start=T(2026, 7, 8, 14, 0),
    end=T(2026, 7, 8, 15, 30),
    place="总部3楼大会议室",
    host="李娜",
    recorder="张伟",
    attendees="李娜、张伟、刘洋、陈静、赵磊、孙丽、周强、郑爽、冯雪、王海",
    decision_maker="王海",
    agenda="1. 背景：Q3新品上市计划\n2. 需求：各部门支持事项\n3. 议题：卖点、视觉、渠道、定价、发布会\n"
           "4. 共识\n5. 待办",
    materials_sent=T(2026, 7, 7, 10, 0),
    discussion="产品部介绍新品参数；设计部提出主视觉需3周；销售部建议先确定价格政策再铺货。",
    consensus="9月8日上市；8月28日前完成发布会筹备；价格政策由销售部牵头、财务确认。",
    minutes_sent=T(2026, 7, 10, 9, 30),  # 42 h after the meeting: planted R-MINUTES-24H
)
LAUNCH_ACTIONS = [
    dict(no=1, action="确定新品核心卖点与产品参数", department="产品部", owner="陈静", due=D(2026, 7, 17),
         standard="卖点文档v1.0，经市场部确认"),
    dict(no=2, action="完成主视觉与包装设计", department="设计部", owner="郑爽", due=D(2026, 8, 7),
         standard="主视觉3稿+包装定稿源文件"),
    dict(no=3, action="制定上市推广方案与预算", department="市场部", owner="张伟", due=D(2026, 7, 31),
         standard="推广方案PPT与预算表，经运营总监批准"),
    dict(no=4, action="制定渠道铺货计划", department="销售部", owner="孙丽", due=D(2026, 8, 14),
         standard="重点渠道铺货清单与时间表"),
    dict(no=5, action="准备销售培训材料", department="销售部", owner="周强", due=D(2026, 8, 21),
         standard=""),  # planted R-ACTION-INCOMPLETE
    dict(no=6, action="筹备上市发布会", department="市场部", owner="刘洋", due=D(2026, 8, 28),
         standard="发布会执行手册与嘉宾确认名单"),
    dict(no=7, action="电商详情页设计与上线", department="设计部", owner="冯雪", due=D(2026, 8, 19),
         standard="详情页PC端与移动端上线"),
    dict(no=8, action="确定新品定价与促销政策", department="销售部", owner="孙丽", due=D(2026, 8, 7),
         standard="价格政策文件，经财务确认"),
]


def _task(id, task, source, dept, owner, start, due, standard, status, done_on=None, note="", updated=None):
    return dict(id=id, task=task, source=source, department=dept, owner=owner, start=start, due=due,
                standard=standard, status=status, done_on=done_on, note=note, updated_on=updated)


LAUNCH_TASKS = [
    _task("T01", "撰写新品卖点文档", "会议纪要#1", "产品部", "陈静", D(2026, 7, 9), D(2026, 7, 17),
          "卖点文档v1.0", "done", D(2026, 7, 16), "已经市场部确认", D(2026, 7, 16)),
    _task("T02", "主视觉设计（3稿）", "会议纪要#2", "设计部", "郑爽", D(2026, 7, 9), D(2026, 7, 31),
          "主视觉3稿", "done", D(2026, 8, 4), "第2稿修改后延期2天", D(2026, 8, 4)),
    _task("T03", "包装设计定稿", "会议纪要#2", "设计部", "冯雪", D(2026, 7, 13), D(2026, 8, 7),
          "包装定稿源文件", "in_progress", None, "等待供应商打样", D(2026, 8, 10)),
    _task("T04", "编写上市推广方案", "会议纪要#3", "市场部", "张伟", D(2026, 7, 9), D(2026, 7, 24),
          "推广方案PPT", "done", D(2026, 7, 23), "", D(2026, 7, 23)),
    _task("T05", "推广预算表报批", "会议纪要#3", "市场部", "张伟", D(2026, 7, 20), D(2026, 7, 31),
          "预算表经运营总监批准", "done", D(2026, 7, 31), "王海已批准", D(2026, 7, 31)),
    _task("T06", "重点渠道铺货清单", "会议纪要#4", "销售部", "孙丽", D(2026, 7, 20), D(2026, 8, 14),
          "铺货清单与时间表", "in_progress", None, "华东区已确认，华南区待定", D(2026, 8, 19)),
    _task("T07", "销售培训课件", "会议纪要#5", "销售部", "周强", D(2026, 8, 3), D(2026, 8, 21),
          "培训课件与考核题", "in_progress", None, "初稿完成", D(2026, 8, 18)),
    _task("T08", "发布会场地与嘉宾邀请", "会议纪要#6", "市场部", "刘阳", D(2026, 7, 27), D(2026, 8, 28),
          "场地合同与嘉宾名单", "in_progress", None, "场地已初选两处", D(2026, 8, 6)),  # planted: 刘阳
    _task("T09", "电商详情页设计", "会议纪要#7", "设计部", "冯雪", D(2026, 8, 3), "2026/8/19",
          "详情页上线", "in_progress", None, "移动端适配中", D(2026, 8, 19)),  # planted: date as text
    _task("T10", "新品定价方案", "会议纪要#8", "销售部", "孙丽", D(2026, 7, 20), D(2026, 8, 7),
          "价格政策文件", "blocked", None, "等待财务确认成本", D(2026, 8, 17)),
    _task("T11", "KOL投放合作洽谈", "跟进会 2026-07-22", "市场部", "刘洋", "下周一", D(2026, 9, 4),
          "签约KOL名单与排期", "not_started", None, "", D(2026, 8, 14)),  # planted: 下周一
    _task("T12", "门店陈列物料下单", "会议纪要#6", "市场部", "张伟", D(2026, 8, 10), D(2026, 8, 20),
          "物料订单与到货时间", "in_progress", None, "今天确认数量", D(2026, 8, 20)),
    _task("T13", "竞品对比海报", "会议纪要#2", "设计部", "冯雪", D(2026, 7, 20), D(2026, 8, 12),
          "对比海报1张", "cancelled", None, "法务建议取消", D(2026, 8, 5)),
    _task("T14", "产品参数确认单", "会议纪要#1", "产品部", "赵磊", D(2026, 7, 9), D(2026, 7, 15),
          "参数确认单", "done", D(2026, 7, 15), "", D(2026, 7, 15)),
]
LAUNCH_FOLLOWUPS = [
    dict(date=D(2026, 7, 15), start=dt.time(16, 0), end=dt.time(16, 25), attendees="李娜、张伟、陈静、孙丽、郑爽",
         conclusion="卖点文档按计划推进", open_issues=""),
    dict(date=D(2026, 7, 22), start=dt.time(16, 0), end=dt.time(16, 30), attendees="李娜、张伟、刘洋、孙丽、郑爽",
         conclusion="主视觉第2稿需修改", open_issues="新增KOL投放任务"),
    dict(date=D(2026, 7, 29), start=dt.time(16, 0), end=dt.time(16, 20), attendees="李娜、张伟、孙丽、郑爽",
         conclusion="推广方案已定稿", open_issues=""),
    dict(date=D(2026, 8, 5), start=dt.time(16, 0), end=dt.time(16, 28), attendees="李娜、张伟、孙丽、冯雪",
         conclusion="包装打样延迟", open_issues="定价需财务确认成本"),
    dict(date=D(2026, 8, 12), start=dt.time(16, 0), end=dt.time(16, 45), attendees="李娜、张伟、刘洋、孙丽、冯雪、王海",
         conclusion="定价受阻，升级至运营总监", open_issues="财务成本数据"),  # planted: 45 minutes
    dict(date=D(2026, 8, 19), start=dt.time(16, 0), end=dt.time(16, 25), attendees="李娜、张伟、孙丽、冯雪",
         conclusion="铺货清单逾期，周五前补齐", open_issues=""),
]
LAUNCH_RESOURCES = [
    dict(id="R01", department="设计部", requester="郑爽", requested_on=D(2026, 7, 10), kind="people", amount=2,
         purpose="外包设计师2名，支持主视觉与包装", needed_by=D(2026, 7, 20), reviewer="张伟", review="passed",
         reviewed_on=D(2026, 7, 13), approver="王海", approval="approved", approved_on=D(2026, 7, 14)),
    dict(id="R02", department="市场部", requester="刘洋", requested_on=D(2026, 8, 11), kind="money", amount=80000,
         purpose="发布会场地与搭建", needed_by=D(2026, 8, 25), reviewer="李娜", review="pending",
         reviewed_on=None, approver="王海", approval="pending", approved_on=None),
    dict(id="R03", department="销售部", requester="周强", requested_on=D(2026, 8, 10), kind="equipment", amount=5,
         purpose="培训用演示样机", needed_by=D(2026, 8, 18), reviewer="张伟", review="pending",
         reviewed_on=None, approver="王海", approval="approved", approved_on=D(2026, 8, 12)),  # planted
]

RECAP = "618大促数据复盘对接"
RECAP_REQUEST = dict(
    topic="618大促数据复盘对接", initiating_department="市场部", initiator="李娜",
    participants="销售部（孙丽、吴敏）", background="618大促结束，需要市场部与销售部对齐各渠道数据口径。",
    problems="各渠道GMV口径不一致；退货数据缺失。", expected_outcome="7月10日前输出统一口径的复盘数据。",
    prior_alignment="6月19日与孙丽沟通过。", attachments="", sent_on=D(2026, 6, 19),
    planned_meeting=T(2026, 6, 24, 10, 0), item_status="closed")
RECAP_MINUTES = dict(
    topic="618大促数据复盘对接会", start=T(2026, 6, 24, 10, 0), end=T(2026, 6, 24, 11, 0), place="线上会议",
    host="李娜", recorder="吴敏", attendees="李娜、孙丽、吴敏", decision_maker="王海",
    agenda="背景→需求→议题→共识→待办", materials_sent=T(2026, 6, 23, 9, 0), discussion="统一以实收口径计算。",
    consensus="以财务实收为准，退货按签收后7天计。", minutes_sent=T(2026, 6, 24, 17, 0))
RECAP_ACTIONS = [
    dict(no=1, action="整理各渠道实收数据", department="销售部", owner="吴敏", due=D(2026, 7, 3),
         standard="渠道实收明细表"),
    dict(no=2, action="输出大促复盘报告", department="市场部", owner="李娜", due=D(2026, 7, 10),
         standard="复盘报告PPT"),
]
RECAP_TASKS = [
    _task("A1", "渠道实收数据整理", "会议纪要#1", "销售部", "吴敏", D(2026, 6, 25), D(2026, 7, 3),
          "渠道实收明细表", "done", D(2026, 7, 2), "", D(2026, 7, 2)),
    _task("A2", "复盘报告撰写", "会议纪要#2", "市场部", "李娜", D(2026, 7, 3), D(2026, 7, 10),
          "复盘报告PPT", "done", D(2026, 7, 9), "", D(2026, 7, 9)),
]
RECAP_FOLLOWUPS = [
    dict(date=D(2026, 7, 1), start=dt.time(10, 0), end=dt.time(10, 20), attendees="李娜、孙丽、吴敏",
         conclusion="数据整理按计划", open_issues=""),
    dict(date=D(2026, 7, 8), start=dt.time(10, 0), end=dt.time(10, 15), attendees="李娜、吴敏",
         conclusion="报告初稿已完成", open_issues=""),
]
RECAP_RETRO = dict(acceptance="accepted", accepted_on=D(2026, 7, 10), accepted_by="王海",
                   went_well="数据口径一次对齐；会后24小时内发出纪要。",
                   went_wrong="退货数据需要手工补录，耗时2天。")
RECAP_METRICS = [
    dict(metric="复盘报告按期交付", target="7月10日", actual="7月9日", met="yes"),
    dict(metric="渠道数据覆盖率", target="100%", actual="96%", met="no"),
]
RECAP_MEASURES = [
    dict(measure="大促前与IT确认退货数据接口", owner="吴敏", due=D(2026, 10, 15)),
    dict(measure="建立渠道数据口径说明文档", owner="李娜", due=D(2026, 9, 30)),
]


# An item whose tracker is laid out the way staff really fill one in: a section row per department,
# 负责部门 merged over each department's tasks, two owners in one cell, a percentage in 状态,
# a ✓ after 已完成, and a 合计 row at the end. It has no mistakes: everything in it is read.
STORES = "华东门店焕新"
STORES_REQUEST = dict(
    topic="华东门店焕新", initiating_department="市场部", initiator="李娜",
    participants="设计部（郑爽、冯雪）、销售部（孙丽、吴敏、周强）",
    background="华东区20家门店9月起换新形象，需设计部出方案、销售部完成陈列培训与试点。",
    problems="门店形象方案；陈列标准培训；试点门店。", expected_outcome="9月上旬完成试点门店焕新。",
    prior_alignment="7月31日与郑爽、孙丽分别沟通。", attachments="门店清单.xlsx", sent_on=D(2026, 8, 3),
    planned_meeting=T(2026, 8, 5, 14, 0), item_status="active")
STORES_MINUTES = dict(
    topic="华东门店焕新启动会", start=T(2026, 8, 5, 14, 0), end=T(2026, 8, 5, 15, 0), place="总部5楼会议室",
    host="李娜", recorder="刘洋", attendees="李娜、郑爽、冯雪、孙丽、吴敏、周强", decision_maker="王海",
    agenda="背景→需求→议题→共识→待办", materials_sent=T(2026, 8, 4, 10, 0), discussion="先做两家试点门店。",
    consensus="设计部8月底前出方案，销售部9月4日前完成陈列培训。", minutes_sent=T(2026, 8, 5, 18, 0))
STORES_ACTIONS = [
    dict(no=1, action="门店形象设计方案", department="设计部", owner="郑爽", due=D(2026, 8, 24), standard="方案终稿"),
    dict(no=2, action="门头灯箱效果图", department="设计部", owner="冯雪", due=D(2026, 8, 28), standard="效果图3张"),
    dict(no=3, action="门店陈列培训", department="销售部", owner="吴敏", due=D(2026, 9, 4), standard="培训签到与考核"),
    dict(no=4, action="试点门店选址", department="销售部", owner="周强", due=D(2026, 8, 14), standard="试点门店名单"),
]
STORES_TASKS = [
    dict(id="一、设计部"),  # a section row: only a label
    _task("H1", "门店形象设计方案", "会议纪要#1", "设计部", "郑爽、冯雪", D(2026, 8, 6), D(2026, 8, 24),
          "方案终稿", "in_progress", None, "初稿已评审", D(2026, 8, 19)),
    _task("H2", "门头灯箱效果图", "会议纪要#2", None, "冯雪", D(2026, 8, 10), D(2026, 8, 28),
          "效果图3张", "完成90%", None, "等灯箱厂商确认尺寸", D(2026, 8, 19)),
    dict(id="二、销售部"),
    _task("H3", "门店陈列培训", "会议纪要#3", "销售部", "吴敏", D(2026, 8, 17), D(2026, 9, 4),
          "培训签到与考核", "进行中(50%)", None, "课件已完成", D(2026, 8, 19)),
    _task("H4", "试点门店选址", "会议纪要#4", None, "周强", D(2026, 8, 6), D(2026, 8, 14),
          "试点门店名单", "已完成√", D(2026, 8, 13), "选定南京西路、徐家汇两店", D(2026, 8, 13)),
    dict(id="合计", task="4项任务"),  # a total row
]
STORES_MERGED = ("D4:D5", "D7:D8")  # 负责部门 over each department's tasks
STORES_FOLLOWUPS = [
    dict(date=D(2026, 8, 12), start=dt.time(9, 30), end=dt.time(9, 50), attendees="李娜、郑爽、孙丽",
         conclusion="试点选址完成", open_issues=""),
    dict(date=D(2026, 8, 19), start=dt.time(9, 30), end=dt.time(9, 55), attendees="李娜、郑爽、孙丽、吴敏",
         conclusion="设计初稿评审通过", open_issues="灯箱尺寸待厂商确认"),
]


def _real_life(wb) -> None:
    ws = wb["执行进度"]
    for area in STORES_MERGED:
        ws.merge_cells(area)


def _item(topic, request, minutes, actions, tasks, followups, resources=(), retro=None, metrics=(), measures=(),
          guide=True):
    names = [p[0] for p in PEOPLE if p[5] == "yes"]
    wb, layouts = templates.item_workbook(LANG, [d for d, _ in DEPARTMENTS], names, topic=topic, guide=guide)
    templates.fill(wb, layouts, LANG, "request", form=request)
    templates.fill(wb, layouts, LANG, "minutes", form=minutes, rows={"actions": actions})
    templates.fill(wb, layouts, LANG, "tasks", rows={"tasks": tasks})
    templates.fill(wb, layouts, LANG, "followups", rows={"followups": followups})
    templates.fill(wb, layouts, LANG, "resources", rows={"resources": list(resources)})
    if retro:
        templates.fill(wb, layouts, LANG, "retro", form=retro,
                       rows={"metrics": list(metrics), "measures": list(measures)})
    return wb


CHAT_IDS = {"张伟": ("13800138001", "zhangwei"), "冯雪": ("13800138011", ""), "孙丽": ("", "sunli"),
            "周强": ("13800138008", "zhouqiang")}  # 手机 / 即时通讯ID, for @-mentions in the group


def _roster(guide=True):
    wb, layouts = templates.roster_workbook(LANG, guide=guide)
    people = [dict(name=n, department=d, email=e, manager=m, is_head=h, active=a, title=t,
                   mobile=CHAT_IDS.get(n, ("", ""))[0], im_id=CHAT_IDS.get(n, ("", ""))[1])
              for n, d, e, m, h, a, t in PEOPLE]
    templates.fill(wb, layouts, LANG, "people", rows={"people": people})
    templates.fill(wb, layouts, LANG, "departments",
                   rows={"departments": [dict(department=d, head=h) for d, h in DEPARTMENTS]})
    return wb


def build(root: Path) -> list[Path]:
    """Write the example shared folder into an empty ``root``; returns the files written."""
    root = Path(root)
    active, templates_dir = root / "进行中", root / "模板"
    for d in (active, templates_dir, root / "归档", root / "报告"):
        d.mkdir(parents=True, exist_ok=True)
    files = {
        root / CONFIG_NAME: None,
        root / "名册.xlsx": _roster(),
        templates_dir / ITEM_TEMPLATE[LANG]: templates.item_workbook(LANG)[0],
        templates_dir / ROSTER_TEMPLATE[LANG]: templates.roster_workbook(LANG)[0],
        active / f"{LAUNCH}.xlsx": _item(LAUNCH, LAUNCH_REQUEST, LAUNCH_MINUTES, LAUNCH_ACTIONS, LAUNCH_TASKS,
                                         LAUNCH_FOLLOWUPS, LAUNCH_RESOURCES),
        active / f"{RECAP}.xlsx": _item(RECAP, RECAP_REQUEST, RECAP_MINUTES, RECAP_ACTIONS, RECAP_TASKS,
                                        RECAP_FOLLOWUPS, (), RECAP_RETRO, RECAP_METRICS, RECAP_MEASURES),
        active / f"{STORES}.xlsx": _item(STORES, STORES_REQUEST, STORES_MINUTES, STORES_ACTIONS, STORES_TASKS,
                                         STORES_FOLLOWUPS),
    }
    _real_life(files[active / f"{STORES}.xlsx"])
    for path, wb in files.items():
        if path.exists():
            path.unlink()
        if wb is None:
            path.write_text(render_config(LANG) + EXAMPLE_CHANNEL, encoding="utf-8")
        else:
            _fixed_timestamps(wb)
            _save_new(wb, path)
    return list(files)


# the launch item's follow-up group: a DingTalk robot, previewed in the outbox (transport = "outbox")
EXAMPLE_CHANNEL = """
[channels.q3-launch]
kind = "dingtalk"
webhook_env = "COORDXL_Q3_LAUNCH_WEBHOOK"
keyword = "协调"
items = ["Q3新品上市推广"]
transport = "outbox"
"""


def _fixed_timestamps(wb) -> None:
    stamp = dt.datetime(2026, 7, 1, 9, 0)
    wb.properties.created = stamp
    wb.properties.modified = stamp


if __name__ == "__main__":
    for written in build(Path(sys.argv[1] if len(sys.argv) > 1 else "workbooks/example")):
        print(written)
