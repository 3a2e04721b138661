"""Lint at deploy time: the checks bpmnlint's recommended configuration makes where they apply to Whistle,
plus Whistle's own (every human task is offered to someone, every timer parses, every script and condition
compiles in the sandbox), modeler compatibility (``engine.bpmn.modeler_checks``) and decision tables
(``engine.dmn.checks``). Pure checks over parsed XML: nothing here reads a database or deploys.

Each finding is a :class:`~engine.errors.Problem` with file, line, element id and severity. Errors block
the deployment; warnings are returned with the deploy results and stored with the new version. The rules,
their severities and how to fix each are documented for designers in ``docs/lint.md``;
``engine.deploy.rules.common.RULES`` is the same list in code.

``common`` (the table of rules, the linter's state), ``flows`` (a scope's structure), ``elements`` (an
element's content), ``reserved_ids`` and ``calls`` (call cycles) hold the rules; ``stages`` runs them
before and after SpiffWorkflow parses (``engine.deploy.checks``). ``whistle lint`` runs the same checks
without a database (``engine.deploy.lint``).
"""
