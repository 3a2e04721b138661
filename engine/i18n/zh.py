"""Chinese, the language every text is written in first: the messages the engine and the pages name by a code.

Page texts need no entry here: they are written in Chinese and that text is their key (``engine.i18n.translate``).
"""
from __future__ import annotations

FORMS = {  # form validation (engine.forms.validation, engine.forms.checks)
    "required": "此项必须填写",
    "choose": "请选择一项",
    "not_option": "所选内容不在可选范围内",
    "number": "请输入数字",
    "integer": "请输入整数",
    "min": "不能小于 {min}",
    "max": "不能大于 {max}",
    "min_length": "至少填写 {min_length} 个字",
    "max_length": "最多填写 {max_length} 个字",
    "date": "请输入日期（年-月-日）",
    "datetime": "请输入日期和时间",
    "files": "最多上传 {max_files} 个文件",
    "rule": "填写内容不符合要求",
    "rows_required": "至少填写一行",
    "min_rows": "至少填写 {min_rows} 行",
    "max_rows": "最多填写 {max_rows} 行",
    "duplicate": "与第{other}行重复",
    "row": "第{row}行：{text}",
    "row_cell": "第{row}行「{label}」：{text}",
    "location": "「{label}」的位置格式不正确：需要纬度和经度",
    "location_lat": "「{label}」的纬度必须是 -90 到 90 之间的数",
    "location_lng": "「{label}」的经度必须是 -180 到 180 之间的数",
    "location_accuracy": "「{label}」的定位精度必须是不小于 0 的米数",
    "location_at": "「{label}」的定位时间格式不正确",
    "location_keys": "「{label}」只能包含纬度、经度、精度和定位时间（多了 {keys}）",
}

CONTRACTS = {  # data contracts (engine.forms.contracts)
    "unknown": "表单中没有这些字段：{names}；可填写：{allowed}",
    "unknown_none": "这项任务不接受字段：{names}",
    "server_set": "由系统按你的账号填写，不能更改",
    "not_own": "只能填写你所在的单位：{allowed}",
    "no_own": "你的账号不属于可以填写此项的单位",
    "type": "格式不正确：应为{kind}",
    "exists": "案件中已有这些数据，无表单的任务只能新增：{names}",
}

EVENTS = {  # a case's timeline, one sentence per audit event (webui.staff.display)
    "started": "发起案件",
    "task_created": "生成待办「{name}」",
    "task_claimed": "认领「{name}」",
    "task_unclaimed": "把「{name}」退回组任务",
    "task_completed": "完成「{name}」",
    "task_cancelled": "「{name}」已取消",
    "timer_fired": "计时到期：{element}",
    "timer_failed": "计时处理失败，将重试",
    "timer_retried": "重新执行计时",
    "message_received": "收到消息 {message}",
    "incident": "发生故障：{error}",
    "finished": "案件办结",
    "attachment_added": "上传附件「{file_name}」",
    "attachments_linked": "附件归入案件：{files}",
}
