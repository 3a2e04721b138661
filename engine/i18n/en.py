"""English: the translation of every Chinese text, for readers who chose English (``?lang=en``).

``PAGES`` is keyed by the Chinese text the templates and views write (``_('我的任务')``); a text without an
entry stays Chinese. ``FORMS``, ``CONTRACTS`` and ``EVENTS`` are keyed by the same codes as ``engine.i18n.zh``.
"""
from __future__ import annotations

PAGES = {  # the staff pages (webui.i18n.gettext), keyed by their Chinese text
    # frame
    "吹哨报到": "Whistle", "街乡吹哨、部门报到": "Streets whistle, departments report",
    "待办": "Inbox", "发起": "Start", "案件查询": "Cases", "管理": "Admin",
    "退出": "Sign out", "登录": "Sign in", "用户名": "User name", "密码": "Password",
    "用户名或密码不正确": "Wrong user name or password", "请先登录": "Please sign in first",
    "登录失败次数过多，请 {n} 分钟后再试": "Too many failed sign-ins; try again in {n} minutes",
    "已退出登录": "You have signed out", "演示账号": "Demo accounts", "密码均为": "Password for all",
    "角色": "Role", "账号": "Account", "能做什么": "What they do", "跳到正文": "Skip to content",
    "中文": "中文", "English": "English", "返回": "Back", "返回待办": "Back to the inbox",
    # inbox
    "我的任务": "My tasks", "组任务": "Group tasks", "我已完成": "Done by me",
    "流程": "Process", "全部": "All", "响应级别": "Tier", "时限": "Deadline", "搜索": "Search",
    "已超时": "Overdue", "今天到期": "Due today", "本周到期": "Due this week", "无时限": "No deadline",
    "红色": "red", "黄色": "yellow", "蓝色": "blue", "筛选": "Filter", "清除": "Clear",
    "关键词：案件编号、情形、地点": "Text: case number, situation, place",
    "没有待办任务": "Nothing to do", "办理": "Open", "查看": "View", "认领": "Claim", "退回组任务": "Release",
    "已认领": "Claimed", "已完成": "Completed", "待办任务": "Task", "截止": "Due",
    "同案其他待办": "Also working on this case", "下一计时": "Next timer", "无": "none",
    "有新任务，列表已更新": "New tasks arrived; the list was updated", "更多": "More", "上一页": "Previous",
    "下一页": "Next", "完成于": "Completed at", "由": "by", "案件": "Case", "已由 {who} 认领": "Claimed by {who}",
    "剩余 {n} 天": "{n} days left", "剩余 {n} 小时": "{n} hours left", "剩余 {n} 分钟": "{n} minutes left",
    "已超时 {n} 天": "Overdue by {n} days", "已超时 {n} 小时": "Overdue by {n} hours",
    "已超时 {n} 分钟": "Overdue by {n} minutes", "即将到期": "Due now",
    "条": "", "每 10 秒自动刷新": "refreshes every 10 seconds",
    # list filters, totals and paging (inbox and case list, issue 14)
    "街道": "Street", "部门": "Department", "排序": "Sort", "已筛选": "filtered", "至": "to",
    "创建日期从": "Created from", "发起日期从": "Started from", "截止时间最早在前": "Deadline first",
    "最新在前": "Newest first", "最早在前": "Oldest first", "共 {n} 项": "{n} in all",
    "第 {page}/{last} 页": "page {page} of {last}", "分页": "Pages", "第 {n} 页": "Page {n}",
    "没有符合筛选条件的任务": "No task matches the filters", "清除筛选": "Clear the filters",
    "还没有已完成的任务": "You have not completed any task yet",
    "没有符合筛选条件的案件": "No case matches the filters",
    "查看可认领的任务（{n}）": "See the tasks you may claim ({n})",
    "有超时待办": "Has an overdue task", "超时": "Overdue", "仅看有超时待办的案件": "Only cases with an overdue task",
    "截止最早的待办在前": "Earliest deadline first", "筛选条件无效": "Invalid filter",
    "放大": "Zoom in", "缩小": "Zoom out", "适应窗口": "Fit", "还原": "Reset", "流程图缩放": "Diagram zoom",
    "拖动平移，滚轮或双指缩放": "Drag to pan; wheel or pinch to zoom",
    # task
    "提交": "Submit", "保存草稿": "Save draft", "草稿已保存": "Draft saved",
    "已载入 {when} 保存的草稿": "Loaded the draft saved {when}", "已提交": "Submitted",
    "请修改标红的内容后再提交": "Please correct the fields marked in red", "必填": "required",
    "（按你的账号填写）": "(from your account)", "办理依据": "What this task decides on",
    "案件信息": "About the case", "这项任务要做什么": "What this task asks",
    "你不能办理这项任务": "You cannot work on this task", "这项任务已结束": "This task is closed",
    "提交失败": "Could not submit", "已上传": "Uploaded", "选择文件": "Choose files",
    "任务已认领": "Task claimed", "任务已退回组任务": "Task released to the group",
    "该任务已被他人处理或变更，请刷新后查看": "Someone else changed this task first; reload to see it",
    "没有需要填写的内容": "Nothing to fill in", "是": "yes", "否": "no",
    "认领后别人就看不到这项组任务": "Once claimed, the group no longer sees this task",
    "第 {n} 行": "Row {n}", "删除第 {n} 行": "Remove row {n}", "删除": "Remove", "添加一行": "Add a row",
    "行": "Row", "操作": "Actions", "最多 {n} 行": "at most {n} rows", "{n} 行": "{n} rows",
    # start
    "发起工作": "Start work", "你可以发起的流程": "Processes you may start",
    "没有你可以发起的流程": "There is nothing you may start", "开始填写": "Fill in",
    "已提交，案件编号 {key}": "Submitted; case {key}",
    # case
    "我的案件": "My cases", "案件编号": "Case number", "状态": "Status", "发起人": "Started by",
    "发起时间": "Started at", "流程图": "Diagram", "案件数据": "Case data", "附件": "Attachments",
    "办理记录": "Timeline", "当前待办": "Open tasks", "办理中": "Running", "已办结": "Closed",
    "已取消": "Cancelled", "已完成环节": "Done", "正在办理": "Active", "等待计时": "Waiting on a timer",
    "故障": "Incident", "其他数据": "Other data",
    "流程变量（管理员）": "Process variables (administrators)", "{n} 项": "{n} items",
    "流程说明（设计人员）": "From the process model (designers)", "流程环节": "a step",
    "上次提交未通过，请修改后重新提交": "The last submission was not accepted; correct it and submit again",
    "没有附件": "No attachments", "下载": "Download",
    "没有案件": "No cases", "版本": "version", "时间": "Time", "经办人": "Who", "事项": "What",
    "流程图需要先运行 make install 安装前端资源": "Run make install to install the diagram viewer",
    "计时到期": "Timer due", "无权查看": "Forbidden", "找不到": "Not found",
    # designer / admin
    "流程定义": "Process definitions", "表单": "Forms", "表单预览": "Form preview", "运行中": "Running",
    "部署时间": "Deployed at", "故障列表": "Incidents", "没有故障": "No incidents",
    "修复": "Repair", "案件已恢复流转": "The case moves again", "无法自动修复": "Cannot be repaired automatically",
    "只有法定节假日，国务院的放假安排尚未导入：跨该年的时限为暂定。":
        "only the statutory holidays; the State Council's schedule is not loaded, so deadlines across the year are "
        "provisional. ",
    "没有工作日日历（按周一至周五计算）：跨该年的时限为暂定。":
        "no working-day calendar (Monday to Friday are counted), so deadlines across the year are provisional. ",
    "导入命令：": "Load it with ", "测试模式": "test mode", "演示模式": "demo mode", "正式运行": "production",
    "（{mode}，偏移 {offset}）": "({mode}, offset {offset})", "10 分钟": "10 minutes", "31 分钟": "31 minutes",
    "2 小时": "2 hours", "1 天": "1 day", "3 天": "3 days", "未命名的计时": "Unnamed timer", "已排定": "Scheduled",
    "已到期": "Due", "执行中": "Running", "重试中": "Retrying", "失败": "Failed", "决策表": "Decision table",
    "演示时钟": "Demo clock", "快进": "Advance", "当前引擎时间": "Engine time", "时钟已快进": "Clock advanced",
    "只有演示或测试模式可以调整时钟": "The clock can only move in demo or test mode",
    "计时任务": "Timer jobs", "到期时间": "Due at", "名称": "Name", "图例": "Legend", "导航": "Navigation",
    "环节": "Element", "规则": "Rules", "流程说明": "From the process model",
    "只能上传 JPG、PNG、HEIC 或 PDF 文件（「{name}」未上传）":
        "Only JPG, PNG, HEIC and PDF files can be attached ({name} was not)",
    "照片「{name}」无法读取，未上传；请改用 JPG 或 PNG 格式（苹果手机：设置 → 相机 → 格式 → 兼容性最佳）":
        "The photo {name} could not be read and was not attached; send it as a JPG or PNG "
        "(on an iPhone: Settings → Camera → Formats → Most Compatible)",
    # versions and their differences (issue 15: webui.staff.versions)
    "共 {n} 个版本": "{n} versions", "最新": "latest", "下载全部文件": "Download all files",
    "与上一版本比较": "Compare with the previous version", "部署人": "Deployed by", "内容摘要": "Content hash",
    "运行中 {n} 件": "{n} running", "已结束 {n} 件": "{n} finished", "检查提醒": "Lint warnings",
    "{n} 条提醒": "{n} warnings", "文件第 {n} 行": "line {n}", "文件": "Files",
    "比较任意两个版本": "Compare any two versions",
    "从版本": "From version", "到版本": "To version", "比较": "Compare", "全部版本": "All versions",
    "版本比较": "Version differences", "两个版本没有差别。": "The two versions do not differ.",
    "新增": "Added", "修改": "Changed", "原": "old", "新": "new",
    "拖动平移，滚轮缩放": "Drag to pan, wheel to zoom", "变化": "Change", "属性": "Property", "原值": "Was",
    "新值": "Now", "连线改接": "Flows rerouted", "连线": "Flow", "原来": "Was", "现在": "Now", "列": "Column",
    "整表": "Whole table", "第 {n} 条": "Rule {n}", "输入": "input", "输出": "output", "注释": "Annotation",
    "字段": "Field", "整个表单": "Whole form", "其他文件": "Other files", "（无）": "(none)",
    "时长": "duration", "日期": "date", "周期": "cycle",
    "类型": "Type", "说明": "Documentation", "泳道": "Lane", "计时类型": "Timer type", "计时": "Timer",
    "事件定义": "Event definition", "消息": "Message", "条件": "Condition", "默认": "Default", "脚本": "Script",
    "前置脚本": "Pre-script", "后置脚本": "Post-script", "候选组": "Candidate groups", "候选人": "Candidate users",
    "办理人": "Assignee", "优先级": "Priority", "可写数据": "Outputs", "责任类型": "Obligation",
    "调用决策": "Called decision", "结果变量": "Result variable", "调用流程": "Called process",
    "多实例": "Multi-instance", "附着环节": "Attached to", "中断": "Interrupting", "可发起人": "Starters",
    "扩展属性": "Extension properties", "注释文字": "Annotation text", "命中策略": "Hit policy",
    "聚合": "Aggregation", "表达式": "Expression", "标题": "Title", "标签": "Label", "英文标签": "English label",
    "选项": "Options", "填写说明": "Help", "英文填写说明": "English help",
    "占位提示": "Placeholder", "最小值": "Minimum", "最大值": "Maximum", "最短": "Shortest", "最长": "Longest",
    "整数": "Whole number", "步长": "Step", "多选": "Multiple", "行数": "Rows", "显示条件": "Visible when",
    "必填条件": "Required when", "预填": "Prefill", "文件数上限": "Most files", "拍照": "Capture",
    "取自账号": "From the account", "最少行数": "Fewest rows", "最多行数": "Most rows", "不可重复": "Unique",
    "英文标题": "English title", "英文说明": "English description", "校验规则": "Rules", "显示数据": "Shows",
    "案件数据标签": "Case labels", "案件标题": "Case title", "案件数据顺序": "Case fields",
    "提交按钮": "Submit button", "英文提交按钮": "English submit button", "案件编号前缀": "Case number prefix",
    "未知字段": "Unknown fields", "任务主题": "Subject", "英文任务主题": "English subject", "表单键": "Form key",
    "子流程": "Sub-process", "事务子流程": "Transaction", "自由子流程": "Ad-hoc sub-process",
    "调用活动": "Call activity", "任务": "Task", "用户任务": "User task", "人工任务": "Manual task",
    "脚本任务": "Script task", "服务任务": "Service task", "发送任务": "Send task", "接收任务": "Receive task",
    "业务规则任务": "Business rule task", "开始事件": "Start event", "结束事件": "End event",
    "中间捕获事件": "Intermediate catch event", "中间抛出事件": "Intermediate throw event",
    "边界事件": "Boundary event", "排他网关": "Exclusive gateway", "包容网关": "Inclusive gateway",
    "并行网关": "Parallel gateway", "事件网关": "Event-based gateway", "复杂网关": "Complex gateway",
    "消息流": "Message flow", "关联": "Association", "数据输入": "Data input", "数据输出": "Data output",
    "参与者": "Participant", "数据对象": "Data object", "数据存储": "Data store", "分组": "Group",
    "信号": "Signal", "错误": "Error", "升级": "Escalation",
    # field work (issue 14): the phone's position, a lost session's typed values
    "获取当前位置": "Get my position", "重新获取位置": "Get the position again", "清除位置": "Clear the position",
    "尚未获取位置": "No position yet", "正在获取位置……": "Getting the position…", "已清除位置": "Position cleared",
    "（±{m} 米）": " (±{m} m)", "{when} 定位": "located {when}", "定位点": "Position", "在地图上查看": "Show on a map",
    "浏览器定位的 WGS-84 坐标，在高德地图中打开": "WGS-84 coordinates from the browser, opened in Amap",
    "这个浏览器不能获取位置。": "This browser cannot give its position. ",
    "获取位置需要通过 HTTPS 打开本系统，请告知系统管理员。":
        "The position needs the site opened over HTTPS; please tell the administrator. ",
    "没有获得使用位置的许可。如需记录位置，请在浏览器设置中允许本网站获取位置后重试。":
        "No permission to use the position. To record it, allow this site your location in the browser's settings "
        "and try again. ",
    "暂时无法确定位置，请到开阔处稍后重试。": "The position cannot be found now; try again in the open in a moment. ",
    "获取位置超时，请重试。": "Getting the position took too long; try again. ",
    "获取位置需要浏览器启用脚本。": "Getting the position needs JavaScript. ",
    "本项可以不填。": "This field may be left empty.", "本项必须填写。": "This field is required.",
    "这台设备上有 {when} 填写、尚未提交的内容。": "This device keeps what you typed at {when} and did not submit.",
    "恢复未提交的内容": "Restore it", "放弃": "Discard",
    "已恢复未提交的内容，请核对后提交": "Restored what you had typed; check it, then submit",
    "登录已失效，请重新登录；登录后回到原页面，可恢复未提交的内容":
        "Your session has ended; sign in again to return to the page and restore what you typed",
    "文件「{name}」是空的，未上传": "{name} is empty and was not attached",
    "文件「{name}」超过 {mb} MB，未上传": "{name} is larger than {mb} MB and was not attached",
    # error pages (webui.errors.error_page): the English is shown in place of the Chinese message
    "表单已过期或来源不明（CSRF 校验失败），没有做任何更改。请返回上一页，刷新后重新提交。":
        "The form has expired or did not come from this site (CSRF check failed); nothing was changed. Go back, "
        "reload the page and submit again.",
    "请求中的内容超出允许的范围，没有做任何更改。": "Nothing was changed: {problem}.",
    "数据库暂时无法连接，请稍后重试。如果刚才提交了表单，请先查看是否已经保存，再决定是否重新提交。":
        "The database is unavailable for a moment; try again shortly. If you just submitted a form, check whether "
        "it was saved before submitting again.",
    "一次提交的文件合计不能超过 {limit} MB，没有做任何更改。请减少或压缩附件后重试。":
        "One submission may carry at most {limit} MB of files; nothing was changed.",
    "这一页只对{role}开放。": "This page is for another role.",
    "要找的内容不存在或已被删除。": "Not found: {message}",
    "你没有权限查看或办理这项内容。部门只能看到本部门参与的案件。":
        "You may not see or do this: departments see only the cases they take part in.",
    "这项任务已结束或已由他人认领，你不能提交。": "This task is closed or claimed by someone else.",
    # a case's timeline and durations (webui.staff.display)
    "系统计时器": "timer", "系统": "system", "工作人员": "staff",
    "交 {groups}": "for {groups}", "时限 {when}": "due {when}",
    "{n} 周": "{n} weeks", "{n} 天": "{n} days", "{n} 小时": "{n} hours", "{n} 分钟": "{n} minutes",
    "{n} 秒": "{n} seconds",
    # deploying from the browser (issue 15): 上传部署
    "上传部署": "Upload and deploy", "元素": "element", "再上传一批": "Upload more",
    "压缩包": "zip archive",
    "压缩包中以下文件不属于部署，已忽略：": "These files of the archive are not deployed and were passed over:",
    "发现 {errors} 个错误、{warnings} 个警告，不能部署。请修改后重新上传。":
        "{errors} errors and {warnings} warnings found: this cannot be deployed. Correct the files and upload them "
        "again.",
    "可一次选择多个 BPMN、DMN、表单、清单和工作日历文件，或一个文件夹的压缩包（.zip）。"
    "先检查，确认无误后再部署；检查不会部署任何内容。":
        "Choose several BPMN, DMN, form, catalog and calendar files at once, or a .zip of a folder. Check first, then "
        "deploy; checking deploys nothing.",
    "安装前端资源": "to install the diagram viewer", "流程图需要先运行": "Run", "将成为": "becomes",
    "工作日历": "Working-day calendar", "新版本": "new", "未变化": "unchanged", "查看流程定义": "Process definitions",
    "有问题的元素以红框（错误）或橙框（警告）标出；点上面的问题可在图上找到它":
        "Elements with problems are outlined red (errors) or orange (warnings); click a problem above to find it",
    "检查": "Check", "检查结果": "Check report", "检查通过，可以部署": "No errors: ready to deploy",
    "没有部署": "Not deployed", "流程文件": "Process files", "清单": "Catalog", "确认部署": "Deploy",
    "确认部署时发现问题，没有部署任何内容：": "Deploying found problems; nothing was deployed:",
    "第 {line} 行": "line {line}", "第 {version} 版": "version {version}", "结果": "Result",
    "规则的说明和改法见部署检查文档（docs/lint.md）。": "Each rule and how to fix it: docs/lint.md.",
    "警告": "warning", "问题": "Problems", "请选择要上传的文件": "Choose the files to upload",
    "部署后": "After deploying", "部署完成": "Deployed", "重新上传": "Upload again",
    "部署的正是上面检查过的文件；一个文件有错则全部不部署。":
        "Deploys exactly the files checked above; if one file has an error, nothing is deployed.",
    "（{count} 个警告，不影响部署）": " ({count} warnings, which do not block deploying)",
    # the designers' modeler (webui.staff.modeler, issue 15)
    "编辑流程": "Edit process",
    "编辑流程：{name}": "Edit process: {name}",
    "基于版本 {version}": "based on version {version}",
    "新流程，尚未部署": "new, not deployed yet",
    "最新版本 {version}": "latest version {version}",
    "校验": "Validate",
    "部署": "Deploy",
    "属性面板": "Properties",
    "隐藏属性": "Hide properties",
    "恢复草稿": "Restore the draft",
    "放弃草稿": "Discard the draft",
    "取消": "Cancel",
    "建模": "Modeler",
    "在建模器中编辑": "Edit in the modeler",
    "新建流程": "New process",
    "流程 ID": "Process id",
    "流程名称": "Process name",
    "在建模器中打开": "Open in the modeler",
    "字母或下划线开头，只含字母、数字、下划线和连字符；部署后不能更改。":
        "A letter or _ first, then letters, digits, _ and -; it cannot change once deployed.",
    "流程 ID 以字母或下划线开头，只含字母、数字、下划线和连字符，最多 100 个字符":
        "A process id starts with a letter or _ and has only letters, digits, _ and - (at most 100)",
    "建模器尚未构建：请在服务器上运行 make install（会从 npm 安装并打包建模器）。":
        "The modeler is not built: run make install on the server (it installs and bundles it from npm).",
    "正在保存草稿…": "Saving the draft…",
    "草稿已保存 {time}": "Draft saved {time}",
    "有未保存的修改": "Unsaved changes",
    "草稿保存失败，将重试": "The draft could not be saved; trying again",
    "你有一份 {time} 保存的草稿（基于{base}）。": "You have a draft saved {time} (based on {base}).",
    "注意：草稿基于版本 {base}，之后已部署了版本 {latest}。":
        "Note: the draft is based on version {base}; version {latest} has been deployed since.",
    "新流程": "a new process",
    "版本 {version}": "version {version}",
    "正在校验…": "Validating…",
    "校验通过，可以部署": "No problems: ready to deploy",
    "{errors} 个错误，{warnings} 个警告": "{errors} errors, {warnings} warnings",
    "整个文件": "the whole file",
    "把当前的图部署为「{name}」的新版本？运行中的案件仍按原来的版本办理，新发起的案件使用新版本。":
        "Deploy this diagram as a new version of {name}? Running cases keep their version; new cases use the new one.",
    "注意：这份图基于版本 {base}，之后已经部署了版本 {latest}。部署会以这份图为准，"
    "版本 {latest} 的修改不会带过来。仍要部署吗？":
        "Note: this diagram is based on version {base}, and version {latest} has been deployed since. "
        "Deploying it replaces version {latest}'s changes with this diagram. Deploy anyway?",
    "正在部署…": "Deploying…",
    "部署失败：{message}": "Not deployed: {message}",
    "请求失败：{message}": "Failed: {message}",
    "还有修改没有保存，确定离开吗？": "Some changes are not saved yet. Leave anyway?",
    "草稿已放弃": "Draft discarded",
    "部署检查未通过，没有部署": "The deploy checks failed; nothing was deployed",
    "已部署为版本 {version}": "Deployed as version {version}",
    "与版本 {version} 相同，没有部署新版本": "The same as version {version}: no new version deployed",
    # bulk operations (engine.management.batches, webui.staff.batches)
    "原因": "Reason", "尝试次数": "Attempts", "完成时间": "Finished at", "工作进程": "Worker",
    "已跳过": "Skipped", "排队中": "Queued", "待处理": "Pending", "处理中": "In progress",
}

FORMS = {  # form validation (engine.forms.validation, engine.forms.checks)
    "required": "This field is required",
    "choose": "Choose one of the options",
    "not_option": "Not one of the options",
    "number": "Enter a number",
    "integer": "Enter a whole number",
    "min": "Must be at least {min}",
    "max": "Must be at most {max}",
    "min_length": "Write at least {min_length} characters",
    "max_length": "Write at most {max_length} characters",
    "date": "Enter a date (YYYY-MM-DD)",
    "datetime": "Enter a date and time",
    "files": "Upload at most {max_files} files",
    "rule": "This does not meet the form's rules",
    "rows_required": "Fill in at least one row",
    "min_rows": "Fill in at least {min_rows} rows",
    "max_rows": "Fill in at most {max_rows} rows",
    "duplicate": "the same as row {other}",
    "row": "row {row}: {text}",
    "row_cell": "row {row}, {label}: {text}",
    "location": "{label}: not a position; it needs a latitude (lat) and a longitude (lng)",
    "location_lat": "{label}: the latitude must be a number from -90 to 90",
    "location_lng": "{label}: the longitude must be a number from -180 to 180",
    "location_accuracy": "{label}: the accuracy must be a number of metres, 0 or more",
    "location_at": "{label}: the time of the position is not a date and time",
    "location_keys": "{label}: a position holds lat, lng, accuracy and at only (not {keys})",
}

CONTRACTS = {  # data contracts (engine.forms.contracts)
    "unknown": "unknown fields {names}; allowed: {allowed}",
    "unknown_none": "this task accepts no fields; got {names}",
    "server_set": "set by the server from your account; it cannot be changed",
    "not_own": "must be your own: {allowed}",
    "no_own": "your account belongs to no group this field accepts",
    "type": "wrong type: expected {kind_en}",
    "exists": "the case already has {names}; a task without a form may only add new names",
}

EVENTS = {  # a case's timeline (webui.staff.display)
    "started": "started the case",
    "task_created": "opened task “{name}”",
    "task_claimed": "claimed “{name}”",
    "task_unclaimed": "released “{name}”",
    "task_completed": "completed “{name}”",
    "task_cancelled": "“{name}” was cancelled",
    "timer_fired": "timer due: {element}",
    "timer_failed": "a timer failed and will be retried",
    "timer_retried": "timer retried",
    "message_received": "message {message} received",
    "incident": "incident: {error}",
    "finished": "case closed",
    "attachment_added": "attached “{file_name}”",
    "attachments_linked": "attachments filed: {files}",
}
