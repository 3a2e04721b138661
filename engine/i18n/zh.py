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
    "instance_migrated": "从版本 {from_version} 迁移到版本 {to_version}",
    "incident_resolved": "故障 {incident_id} 已处理：{note}",
    "incident_replayed": "管理员重放了故障 {incident_id} 的操作",
    "instance_modified": "管理员调整了流程位置：{summary}",
}

LINT = {  # what a deploy check (engine.deploy.rules.common.RULES) found, for the modeler's problem list
    # (webui.staff.modeler); the check's own English message is shown beside it. English reads that message alone.
    "start-event-required": "缺少开始事件：流程、子流程都要有一个开始事件",
    "end-event-required": "缺少结束事件：在路径结束处加结束事件",
    "no-disconnected": "元素没有连线：连上，或删除它",
    "no-implicit-start": "没有进入的连线，永远不会执行：从前一步连线过来，或用开始事件",
    "no-implicit-end": "没有出去的连线：用结束事件结束这条路径",
    "conditional-flows": "网关出线要有条件或设为默认流；任务、事件后的连线不能带条件",
    "no-implicit-split": "一个任务或事件有多条出线：在后面加网关分支",
    "fake-join": "一个任务有多条进线：在前面加网关合并",
    "no-duplicate-sequence-flows": "有两条起点、终点和条件都相同的连线：删掉一条",
    "single-blank-start-event": "多个无类型开始事件：只留一个，其余改为消息、定时或信号开始事件",
    "event-sub-process-typed-start-event": "事件子流程的开始事件要有类型（消息、定时、信号、错误或升级）",
    "sub-process-blank-start-event": "内嵌子流程要用无类型开始事件",
    "superfluous-gateway": "只有一进一出的网关什么也不做：删除它，直接连线",
    "no-gateway-join-fork": "网关既合并又分支：拆成两个网关",
    "label-required": "缺少名称：待办、流程图和审计记录都显示它",
    "no-bpmndi": "元素不在图上：在建模器里画出它",
    "human-task-assignment": "任务没有派给任何人：设置候选组、候选用户或办理人",
    "timer-expression": "定时值无效：写 ISO 8601 日期、时长或周期（如 PT30M、P3D），或表达式",
    "script-compiles": "脚本或表达式无法在沙箱中编译：按说明修改",
    "modeler-compatibility": "Whistle 不能执行这种写法：按说明换成受支持的写法",
    "decision-table": "决策表有问题：按说明修改",
    "catalog-deployed": "引用的清单没有随流程部署",
    "no-call-cycle": "调用活动绕回了自身所在的流程：用循环或重新发起代替递归调用",
    "max-branches": "分支或多实例的路径太多",
    "max-path-length": "路径太长：把其中一段移到子流程或调用活动中",
    "no-interrupting-multi-instance": "多实例子流程或调用活动上不能有中断型边界事件：把它放到实例内部，或改为不中断",
    "notify-declaration": "通知声明（notify）写错了：只能写已登记的通知事件和接收人",
    "_schema": "不符合 BPMN 规范",
    "_xml": "不是可读取的 XML",
    "_reference": "引用的流程或决策表既不在本次部署中，也没有部署过",
    "_process": "图中没有原来的流程 ID：把流程 ID 改回去",
    "_size": "文件太大",
    "_other": "部署检查未通过",
}

MIGRATION = {  # why a case can or cannot move to another version (engine.runtime.upgrade)
    "removed": "等待在「{element}」，版本 {to} 删除了这个环节",
    "renamed": ("等待在「{element}」，版本 {to} 没有这个环节；它像是改名为「{hint}」："
                "请用 --map {element_id}={hint} 指定"),
    "type_changed": "等待在「{element}」，它在版本 {to} 中的类型不同（{old_type} → {new_type}）",
    "subprocess_removed": "正在执行的子流程「{element}」在版本 {to} 中不存在",
    "needs_data": "版本 {to} 的「{element}」需要案件中没有的数据：{error}",
    "same_version": "已经在版本 {to}",
    "not_running": "案件状态为 {status}，只有办理中的案件可以迁移",
    "other_process": "案件属于流程 {process}，不是 {wanted}",
    "not_from": "案件在版本 {version}，不是指定的起始版本 {from_version}",
    "bad_state": "迁移后的状态无法在版本 {to} 上读回：{error}",
    "can_move": "可以迁移",
}

NOTIFY_EVENTS = {  # what a notification is about (engine.notifications.events), for its title and the list
    "task_offered": "新待办",
    "task_due_soon": "即将到期",
    "task_overdue": "已超期",
    "task_claimed_for_you": "已为你认领",
    "supervision_opened": "督办",
    "case_returned": "案件退回",
    "result_published": "办理结果",
}
