"""Every text staff read, in Chinese and English, in one table.

>>> text("new.created", "en", path="x.xlsx")
'Created x.xlsx'
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # templates
    "template.dv_error_choice": ("请从下拉列表中选择。", "Please choose from the list."),
    "template.dv_error_roster": ("此名称不在名册中，确定要使用吗？", "This name is not in the roster. Use it anyway?"),
    "template.dv_error_date": ("请输入日期，如 2026-08-15。", "Please enter a date such as 2026-08-15."),
    "template.date_prompt": ("日期格式：2026-08-15", "Date, e.g. 2026-08-15"),
    # init / new
    "init.created": ("已创建共享文件夹 {root}", "Created the shared folder {root}"),
    "init.exists": ("{path} 已存在，未做任何修改。如需覆盖模板和设置，请加 --force（不会删除任何文件）。",
                    "{path} already exists; nothing was changed. Use --force to rewrite the settings and "
                    "templates (nothing is ever deleted)."),
    "new.created": ("已创建 {path}", "Created {path}"),
    "new.exists": ("{path} 已存在，不会覆盖。请换一个标题。", "{path} already exists and is never overwritten. "
                   "Choose another title."),
    "new.unknown_initiator": ("名册中没有“{name}”。{hint}", "'{name}' is not in the roster. {hint}"),
    "new.empty_title": ("标题不能为空。", "The title cannot be empty."),
    "new.no_roster": ("找不到名册 {path}。请先运行 coordxl init。", "No roster at {path}. Run coordxl init first."),
    "hint.did_you_mean": ("您是否指“{name}”？", "Did you mean '{name}'?"),
    "hint.check_roster": ("请检查名册。", "Please check the roster."),
    # findings: what is wrong ("finding.") and how to fix it ("fix.")
    "finding.W-UNREADABLE": ("无法读取工作簿：{reason}", "Cannot read the workbook: {reason}"),
    "fix.W-UNREADABLE": ("请用 Excel 打开并另存为 .xlsx（不设密码）。{detail}",
                         "Open it in Excel and save it as .xlsx without a password. {detail}"),
    "reason.encrypted": ("文件设置了密码（已加密）", "it is password-protected (encrypted)"),
    "reason.corrupt": ("文件已损坏或不完整", "the file is corrupt or incomplete"),
    "reason.too_big": ("解压后体积超过上限（疑似压缩炸弹）", "it unpacks beyond the size limit (a zip bomb?)"),
    "reason.text": ("这是文本/CSV 文件，只是扩展名为 .xlsx", "it is a text/CSV file named .xlsx"),
    "reason.not_workbook": ("不是 Excel 工作簿", "it is not an Excel workbook"),
    "reason.ods": ("这是 OpenDocument 表格（.ods）", "it is an OpenDocument spreadsheet (.ods)"),
    "reason.empty": ("工作簿中没有任何工作表", "the workbook has no worksheets"),
    "finding.W-LEGACY": ("旧格式工作簿（{reason}），只读取、不会写入", "Old-format workbook ({reason}): read, never written"),
    "reason.xls": (".xls", ".xls"),
    "fix.W-LEGACY": ("请另存为 .xlsx，才能写入预警列。", "Save it as .xlsx so the alert column can be written."),
    "finding.W-MISSING-SHEET": ("缺少工作表“{sheet_label}”", "Sheet '{sheet_label}' is missing"),
    "fix.W-MISSING-SHEET": ("请从模板复制该工作表。", "Copy the sheet from the template."),
    "finding.W-HEADER": ("找不到列“{field}”", "Column '{field}' is not found"),
    "fix.W-HEADER": ("请在表头行添加该列（可参照模板）。", "Add the column to the header row (see the template)."),
    "finding.W-LOCKED": ("工作簿正被打开（{owner}），本次未写入预警", "The workbook is open ({owner}); alerts not written this run"),
    "fix.W-LOCKED": ("关闭文件后下次运行会自动写入。", "Close the file; the next run writes the alerts."),
    "finding.W-CHANGED": ("工作簿在运行期间被修改，本次未写入预警", "The workbook changed during the run; alerts not written"),
    "fix.W-CHANGED": ("无需处理，下次运行会重试。", "Nothing to do; the next run retries."),
    "finding.W-LOSSY": ("写入预警会改变其他内容，已恢复原文件", "Writing the alerts would have changed other content; the original was restored"),
    "fix.W-LOSSY": ("请把该工作簿发给管理员排查。", "Please send this workbook to the administrator."),
    "finding.W-CALENDAR": ("{year} 年没有官方节假日数据，工作日按周一至周五估算", "No official holiday data for {year}: working days are guessed as Monday–Friday"),
    "fix.W-CALENDAR": ("请升级 chinesecalendar，或在 coordxl.toml 的 [calendar] 中填写 extra_holidays / extra_workdays。",
                       "Upgrade chinesecalendar, or list extra_holidays / extra_workdays under [calendar] in coordxl.toml."),
    "finding.F-REQUIRED": ("必填项“{field}”为空", "Required field '{field}' is empty"),
    "fix.F-REQUIRED": ("请填写“{field}”。", "Fill in '{field}'."),
    "finding.F-DATE": ("“{field}”不是可识别的日期：{value}", "'{field}' is not a date: {value}"),
    "fix.F-DATE": ("请填写如 2026-08-15 的日期。", "Enter a date such as 2026-08-15."),
    "finding.F-YEAR-GUESSED": ("“{field}”未写年份（{value}），按 {year} 年处理", "'{field}' has no year ({value}); read as {year}"),
    "fix.F-YEAR-GUESSED": ("请写完整日期，如 {year}-08-15。", "Write the full date, e.g. {year}-08-15."),
    "finding.F-ENUM": ("“{field}”的值“{value}”不在可选项中", "'{field}' value '{value}' is not one of the choices"),
    "fix.F-ENUM": ("可选：{choices}", "Choose one of: {choices}"),
    "finding.F-PERSON": ("“{value}”不在名册中（{field}）", "'{value}' is not in the roster ({field})"),
    "finding.F-PERSON-INACTIVE": ("“{value}”已离职（名册：在职=否），不能再分配任务", "'{value}' has left (roster: active = no) and cannot take new tasks"),
    "finding.F-DEPT": ("部门“{value}”不在名册中（{field}）", "Department '{value}' is not in the roster ({field})"),
    "finding.F-EMAIL": ("邮箱地址无效：{value}", "Not a valid email address: {value}"),
    "fix.F-EMAIL": ("请填写如 name@corp.example 的地址。", "Enter an address such as name@corp.example."),
    "finding.F-DATE-ORDER": ("{later_field}（{later}）早于{earlier_field}（{earlier}）",
                             "{later_field} ({later}) is before {earlier_field} ({earlier})"),
    "fix.F-DATE-ORDER": ("请核对两个日期。", "Check both dates."),
    "finding.F-DONE-DATE": ("{problem}", "{problem}"),
    "fix.F-DONE-DATE": ("“已完成”须填写完成日期；填写了完成日期须把状态改为“已完成”。",
                        "A done task needs its done date; a done date needs the status Done."),
    "finding.F-DUPLICATE-ID": ("编号“{value}”重复（另见 {other}）", "ID '{value}' is repeated (also at {other})"),
    "fix.F-DUPLICATE-ID": ("每行任务请使用唯一编号。", "Give every row its own ID."),
    "finding.R-NOTICE": ("需求单仅提前 {days} 个工作日发出（要求至少 {need} 个）",
                         "Request form sent only {days} working days before the meeting (at least {need} required)"),
    "fix.R-NOTICE": ("下次请至少提前 {need} 个工作日发出需求单。", "Next time send the form at least {need} working days ahead."),
    "finding.R-MATERIALS": ("会议材料提前 {hours} 小时发出（要求至少 {need} 天）",
                            "Materials sent {hours} hours before the meeting (at least {need} day(s) required)"),
    "fix.R-MATERIALS": ("请至少提前 {need} 天发出会议材料。", "Send materials at least {need} day(s) ahead."),
    "finding.R-MEETING-LENGTH": ("会议时长 {minutes} 分钟，超过 {limit} 分钟", "The meeting lasted {minutes} minutes, over {limit}"),
    "fix.R-MEETING-LENGTH": ("请控制议程，必要时拆分会议。", "Tighten the agenda or split the meeting."),
    "finding.R-MINUTES-24H": ("纪要在会后 {hours} 小时才发出（要求 {limit} 小时内）",
                              "Minutes went out {hours} hours after the meeting (limit {limit})"),
    "fix.R-MINUTES-24H": ("请在会后 {limit} 小时内发出纪要。", "Send the minutes within {limit} hours."),
    "finding.R-ACTION-INCOMPLETE": ("待办事项 {no} 缺少：{missing}", "Action item {no} lacks: {missing}"),
    "fix.R-ACTION-INCOMPLETE": ("每个待办须有负责人、截止日期和交付标准。", "Every action item needs an owner, a deadline and a delivery standard."),
    "finding.R-BREAKDOWN": ("待办事项 {no}“{action}”在执行进度中没有对应任务",
                            "Action item {no} '{action}' has no task in the tracker"),
    "fix.R-BREAKDOWN": ("请在执行进度中添加任务，来源填“{source}”。", "Add a task with source '{source}'."),
    "finding.R-FOLLOWUP": ("{problem}", "{problem}"),
    "fix.R-FOLLOWUP": ("执行期间每周召开一次不超过 {limit} 分钟的跟进会。", "Hold a follow-up meeting of at most {limit} minutes every week."),
    "finding.R-RESOURCE-REVIEW": ("资源申请 {id} 在发起部门审核通过前就已批准", "Resource request {id} was approved before the initiating department reviewed it"),
    "fix.R-RESOURCE-REVIEW": ("请先由发起部门审核，再审批。", "Have the initiating department review it first."),
    "finding.R-CLOSE": ("事项已关闭，但{problem}", "The item is closed but {problem}"),
    "fix.R-CLOSE": ("请完成或取消剩余任务并填写验收结论。", "Finish or cancel the open tasks and record the acceptance."),
    "finding.R-RETRO": ("事项已关闭，但缺少{problem}", "The item is closed but lacks {problem}"),
    "fix.R-RETRO": ("请在“复盘”表填写成功经验、不足与改进措施。", "Fill in the retrospective: what went well, what went wrong, improvements."),
}


def text(key: str, lang: str = "zh", **values: object) -> str:
    """The message ``key`` in ``lang`` (zh or en), with ``values`` filled in."""
    zh, en = MESSAGES[key]
    return (zh if lang == "zh" else en).format(**values)
