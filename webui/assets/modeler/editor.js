/* The form and decision editors' page (webui/templates/editor.html, webui/staff/editors.py): a version's form in
   form-js's editor (the server gives it as a form-js schema, engine.forms.formjs, and reads it back into
   Whistle's format) or a decision table in dmn-js's Modeler, opened on the table; bundled by esbuild
   (`npm run build`, run by `make install`) into webui/static/build/ — nothing from a CDN.

   As in the modeler (main.js), the file is saved on the server as the designer's draft a few seconds after the
   last change, when the window loses focus and when the page is hidden; leaving with a change not yet saved
   asks first. 校验 runs the deploy checks on the server and lists the problems (a form's by field, a table's by
   rule); 部署 asks for confirmation — and says so when a later version was deployed since — then deploys the
   process's next version with this file changed. */
import { FormEditor } from "@bpmn-io/form-js-editor";
import DmnModeler from "dmn-js/lib/Modeler";

import "@bpmn-io/form-js-viewer/dist/assets/form-js.css";
import "@bpmn-io/form-js-editor/dist/assets/form-js-editor.css";
import "@bpmn-io/form-js-editor/dist/assets/properties-panel.css";
import "dmn-js/dist/assets/diagram-js.css";
import "dmn-js/dist/assets/dmn-js-shared.css";
import "dmn-js/dist/assets/dmn-js-drd.css";
import "dmn-js/dist/assets/dmn-js-decision-table.css";
import "dmn-js/dist/assets/dmn-js-decision-table-controls.css";
import "dmn-js/dist/assets/dmn-js-literal-expression.css";
import "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css";
import "./modeler.css";
import "./editor.css";
import { $, AUTOSAVE_MS, fill, post, send } from "./page";


/* form-js: the schema as JSON text is what the server reads */
class FormSide {
  constructor(container) {
    this.editor = new FormEditor({ container });
  }

  async load(content) {
    await this.editor.importSchema(typeof content === "string" ? JSON.parse(content) : content);
  }

  onChange(callback) {
    this.editor.on("changed", callback);
  }

  async content() {
    return JSON.stringify(this.editor.saveSchema(), null, 2);
  }
}

/* dmn-js: opened on the decision table (the first, or the one the file is about), XML as dmn-js writes it */
class DecisionSide {
  constructor(container) {
    this.modeler = new DmnModeler({ container });
    this.listeners = [];
  }

  async load(content) {
    await this.modeler.importXML(content);
    const table = this.modeler.getViews().find((view) => view.type === "decisionTable");
    if (table) await this.modeler.open(table);
    this.watch();
  }

  watch() {
    const viewer = this.modeler.getActiveViewer();
    if (!viewer) return;
    viewer.get("eventBus").on("elements.changed", () => this.listeners.forEach((callback) => callback()));
  }

  onChange(callback) {
    this.listeners.push(callback);
    this.modeler.on("views.changed", () => this.watch());
  }

  async content() {
    const { xml } = await this.modeler.saveXML({ format: true });
    return xml;
  }
}

class EditorPage {
  constructor(config) {
    this.config = config;
    this.texts = config.texts;
    this.base = config.base; // {version_id, version}: the version the file was opened from
    this.dirty = false;
    this.saving = null;
    this.timer = null;
    this.deploying = false;
    const container = $("editor-canvas");
    this.side = config.editor === "form" ? new FormSide(container) : new DecisionSide(container);
  }

  async start() {
    await this.side.load(this.config.editor === "form" ? this.config.schema : this.config.xml);
    this.side.onChange(() => this.changed());
    $("editor-validate").addEventListener("click", () => this.validate());
    $("editor-deploy").addEventListener("click", () => this.askToDeploy());
    $("editor-confirm-no").addEventListener("click", () => { $("editor-confirm").hidden = true; });
    window.addEventListener("blur", () => this.saveNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.saveNow(true);
    });
    window.addEventListener("beforeunload", (event) => {
      if (!this.dirty && !this.saving) return undefined;
      this.saveNow(true);
      event.preventDefault();
      event.returnValue = this.texts.leave;
      return this.texts.leave;
    });
    this.offerDraft();
    $("editor-validate").disabled = false;
    $("editor-deploy").disabled = false;
    document.body.dataset.editor = "ready"; // for the browser tests: the editor is drawn
  }

  // -- drafts --------------------------------------------------------------------------------------------

  offerDraft() {
    const draft = this.config.draft;
    if (!draft) return;
    let text = fill(this.texts.offer, { time: draft.saved, base: draft.base ? draft.base.version : "?" });
    if (draft.stale && this.config.latest) {
      text += " " + fill(this.texts.offer_stale, {
        base: draft.base ? draft.base.version : "?", latest: this.config.latest.version });
    }
    $("editor-offer-text").textContent = text;
    $("editor-offer").hidden = false;
    $("editor-restore").addEventListener("click", async () => {
      $("editor-offer").hidden = true;
      this.base = draft.base || this.base;
      await this.side.load(draft.content);
      this.status(fill(this.texts.saved, { time: draft.saved }));
    }, { once: true });
    $("editor-discard").addEventListener("click", async () => {
      $("editor-offer").hidden = true;
      await this.post(this.config.urls.discard, { file: this.config.file });
      this.status(this.texts.discarded);
    }, { once: true });
  }

  changed() {
    this.dirty = true;
    this.status(this.texts.unsaved);
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.saveNow(), AUTOSAVE_MS);
  }

  fields(content) {
    return { file: this.config.file, base_version_id: this.base.version_id, content };
  }

  async saveNow(leaving) {
    window.clearTimeout(this.timer);
    if (!this.dirty || this.deploying) return this.saving;
    if (this.saving) {
      await this.saving.catch(() => {});
      if (!this.dirty) return undefined;
    }
    this.dirty = false;
    this.status(this.texts.saving);
    const run = (async () => {
      const answer = await this.post(this.config.urls.draft, this.fields(await this.side.content()), leaving);
      this.status(fill(this.texts.saved, { time: answer.saved }));
    })();
    this.saving = run;
    try {
      await run;
    } catch (error) {
      this.dirty = true;
      this.status(this.texts.save_failed, "error");
      this.timer = window.setTimeout(() => this.saveNow(), AUTOSAVE_MS * 3);
    } finally {
      if (this.saving === run) this.saving = null;
    }
    return undefined;
  }

  // -- validating ----------------------------------------------------------------------------------------

  async validate() {
    this.status(this.texts.validating);
    try {
      const report = await this.post(this.config.urls.validate, this.fields(await this.side.content()));
      this.showProblems(report.problems);
      this.status(report.problems.length ? fill(this.texts.problems, report) : this.texts.valid,
        report.errors ? "error" : "ok");
      return report;
    } catch (error) {
      this.showProblems([]);
      this.status(fill(this.texts.request_failed, { message: error.message }), "error");
      return null;
    }
  }

  showProblems(problems) {
    const list = $("editor-problem-list");
    list.replaceChildren();
    for (const problem of problems) {
      const item = document.createElement("li");
      item.className = "problem problem-" + problem.severity;
      const head = document.createElement("span");
      head.className = "problem-where";
      const kind = document.createElement("span");
      kind.className = "problem-kind";
      kind.textContent = problem.severity === "error" ? this.texts.error : this.texts.warning;
      head.append(kind, " ");
      const field = /field '([^']+)'/.exec(problem.detail || problem.text || "");
      if (field && this.texts.field) head.append(fill(this.texts.field, { name: field[1] }) + " ");
      if (problem.element_id) {
        const code = document.createElement("code");
        code.textContent = problem.element_id;
        if (this.texts.rule) head.append(fill(this.texts.rule, { rule: "" }));
        head.append(code);
      } else if (!field) {
        head.append(problem.line ? fill(this.texts.line, problem) : this.texts.whole);
      }
      const text = document.createElement("p");
      text.textContent = problem.text;
      item.append(head, text);
      if (problem.detail) {
        const detail = document.createElement("code");
        detail.className = "problem-detail";
        detail.lang = "en";
        detail.textContent = problem.detail;
        item.append(detail);
      }
      list.append(item);
    }
    $("editor-problems-h").textContent = fill(this.texts.problems, {
      errors: problems.filter((p) => p.severity === "error").length,
      warnings: problems.filter((p) => p.severity !== "error").length });
    $("editor-problems").hidden = problems.length === 0;
  }

  // -- deploying -----------------------------------------------------------------------------------------

  askToDeploy(stale) {
    let text = fill(this.texts.confirm, { name: this.config.name || this.config.processId });
    if (stale) text = fill(this.texts.confirm_stale, { base: this.base.version, latest: stale.version });
    $("editor-confirm-text").textContent = text;
    $("editor-confirm").hidden = false;
    const yes = $("editor-confirm-yes");
    const fresh = yes.cloneNode(true); // one listener: the latest question's
    yes.replaceWith(fresh);
    fresh.addEventListener("click", () => this.deploy(Boolean(stale)));
    fresh.focus();
  }

  async deploy(confirmStale) {
    $("editor-confirm").hidden = true;
    this.deploying = true;
    window.clearTimeout(this.timer);
    this.status(this.texts.deploying);
    try {
      const response = await this.send(this.config.urls.deploy,
        { ...this.fields(await this.side.content()), confirm_stale: confirmStale });
      const answer = await response.json();
      if (response.status === 409 && answer.error === "stale") {
        this.deploying = false;
        this.status("");
        this.askToDeploy(answer.latest);
        return;
      }
      if (response.status === 422 && answer.problems) {
        this.showProblems(answer.problems);
        this.status(fill(this.texts.deploy_failed, { message: answer.message }), "error");
        return;
      }
      if (!response.ok) throw new Error(answer.message || response.statusText);
      this.base = { version_id: answer.version_id, version: answer.version };
      this.config.latest = this.base;
      this.dirty = false;
      this.showProblems([]);
      this.status(answer.message, "ok");
      document.body.dataset.deployed = String(answer.version);
    } catch (error) {
      this.status(fill(this.texts.deploy_failed, { message: error.message }), "error");
    } finally {
      this.deploying = false;
    }
  }

  // -- the page --------------------------------------------------------------------------------------------

  status(text, kind) {
    const node = $("editor-status");
    node.textContent = text;
    node.dataset.kind = kind || "";
  }

  send(url, body, keepalive) {
    return send(url, body, this.config.csrf, keepalive);
  }

  post(url, body, keepalive) {
    return post(url, body, this.config.csrf, keepalive);
  }
}

const configNode = $("editor-config");
if (configNode && $("editor-canvas")) {
  const page = new EditorPage(JSON.parse(configNode.textContent));
  window.whistleEditor = page; // the browser tests read the editor through it
  page.start().catch((error) => {
    page.status(fill(page.texts.request_failed, { message: error.message }), "error");
  });
}
