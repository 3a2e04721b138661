"""Notifications: people told of what concerns them — a task offered to them or their group, due soon, overdue, a
supervision opened, a result — in the inbox (the bell), by e-mail, by a DingTalk or WeCom robot, by SMS. Written in
the transaction of the step that causes them (``writer``), delivered by the worker (``delivery``) through one
adapter per channel (``channels``); which events tell whom: ``events``; what they say: ``templates``
(docs/notifications.md, ADR 12)."""
