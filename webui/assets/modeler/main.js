/* The modeler page (webui/templates/modeler.html, webui/staff/modeler.py): bpmn-js's Modeler with the Camunda 7
   properties panel, in Chinese, bundled by esbuild (`npm run build`, run by `make install`) into
   webui/static/build/ — served by Whistle itself, nothing from a CDN.

   As the designer edits, the diagram is saved on the server as their draft a few seconds after the last change,
   when the window loses focus and when the page is hidden; leaving with a change not yet saved asks first.
   校验 posts the XML to the server, which runs the deploy checks; the elements with problems are outlined and
   badged and the problems listed (a click selects the element). 部署 asks for confirmation — and says so when a
   later version was deployed after the one this diagram was opened from — then deploys it as a new version. */
import BpmnModeler from "bpmn-js/lib/Modeler";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaBehaviorsModule from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";

import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "./modeler.css";

import TranslatedListGroups from "./list-groups";
import { translateModule } from "./translations";
import { $, AUTOSAVE_MS, fill, post, send } from "./page";


class ModelerPage {
  constructor(config) {
    this.config = config;
    this.texts = config.texts;
    this.base = config.base; // {version_id, version} or null (a new process)
    this.dirty = false; // changed since the last save reached the server
    this.saving = null;
    this.timer = null;
    this.deploying = false;
    this.modeler = new BpmnModeler({
      container: $("modeler-canvas"),
      propertiesPanel: { parent: $("modeler-properties") },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        CamundaPlatformPropertiesProviderModule,
        CamundaBehaviorsModule,
        translateModule(config.lang),
        TranslatedListGroups,
      ],
      moddleExtensions: { camunda: camundaModdle },
    });
  }

  async start() {
    await this.load(this.config.xml);
    this.modeler.on("commandStack.changed", () => this.changed());
    $("modeler-validate").addEventListener("click", () => this.validate());
    $("modeler-deploy").addEventListener("click", () => this.askToDeploy());
    $("modeler-confirm-no").addEventListener("click", () => this.closeConfirm());
    $("modeler-toggle").addEventListener("click", () => this.toggleSide());
    $("modeler-problem-list").addEventListener("click", (event) => {
      const item = event.target.closest("[data-element]");
      if (item) this.focus(item.dataset.element);
    });
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
    this.toggleSide(!window.matchMedia("(max-width: 899px)").matches); // over the diagram on a narrow screen
    this.fitHeight();
    window.addEventListener("resize", () => this.fitHeight());
    touchNavigation(this.modeler.get("canvas"), $("modeler-canvas"));
    this.offerDraft();
    $("modeler-validate").disabled = false;
    $("modeler-deploy").disabled = false;
    document.body.dataset.modeler = "ready"; // for the browser tests: the diagram is drawn
  }

  async load(xml) {
    const { warnings } = await this.modeler.importXML(xml);
    if (warnings && warnings.length) console.warn("bpmn-js import warnings", warnings);
    this.modeler.get("canvas").zoom("fit-viewport", "auto");
    const root = this.processElement();
    if (root) window.requestAnimationFrame(() => this.modeler.get("selection").select(root)); // the panel shows it
  }

  processElement() {
    return this.modeler.get("elementRegistry").find((element) =>
      element.businessObject && element.businessObject.$type === "bpmn:Process"
      && element.businessObject.id === this.config.processId)
      || this.modeler.get("elementRegistry").find((element) =>
        element.businessObject && element.businessObject.$type === "bpmn:Participant"
        && element.businessObject.processRef && element.businessObject.processRef.id === this.config.processId);
  }

  // -- drafts --------------------------------------------------------------------------------------------

  offerDraft() {
    const draft = this.config.draft;
    if (!draft) return;
    const base = draft.base ? fill(this.texts.base_version, { version: draft.base.version }) : this.texts.base_new;
    let text = fill(this.texts.offer, { time: draft.saved, base });
    if (draft.stale && this.config.latest) {
      text += " " + fill(this.texts.offer_stale, {
        base: draft.base ? draft.base.version : this.texts.base_new, latest: this.config.latest.version });
    }
    $("modeler-offer-text").textContent = text;
    $("modeler-offer").hidden = false;
    $("modeler-restore").addEventListener("click", async () => {
      $("modeler-offer").hidden = true;
      this.base = draft.base;
      await this.load(draft.xml);
      this.status(fill(this.texts.saved, { time: draft.saved }));
    }, { once: true });
    $("modeler-discard").addEventListener("click", async () => {
      $("modeler-offer").hidden = true;
      await this.post(this.config.urls.discard, {});
      this.status(this.texts.discarded);
    }, { once: true });
  }

  changed() {
    this.dirty = true;
    this.status(this.texts.unsaved);
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.saveNow(), AUTOSAVE_MS);
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
      const { xml } = await this.modeler.saveXML({ format: true });
      const answer = await this.post(this.config.urls.draft, {
        xml, base_version_id: this.base ? this.base.version_id : null }, leaving);
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
      const { xml } = await this.modeler.saveXML({ format: true });
      const report = await this.post(this.config.urls.validate, { xml });
      this.showProblems(report.problems);
      this.status(report.problems.length ? fill(this.texts.problems, report) : this.texts.valid,
        report.errors ? "error" : "ok");
      return report;
    } catch (error) {
      this.status(fill(this.texts.request_failed, { message: error.message }), "error");
      return null;
    }
  }

  showProblems(problems) {
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    const registry = this.modeler.get("elementRegistry");
    overlays.remove({ type: "lint" });
    for (const id of this.marked || []) {
      if (registry.get(id)) {
        canvas.removeMarker(id, "lint-error");
        canvas.removeMarker(id, "lint-warning");
      }
    }
    this.marked = [];
    const list = $("modeler-problem-list");
    list.replaceChildren();
    const counts = {};
    for (const problem of problems) {
      const item = document.createElement("li");
      item.className = "problem problem-" + problem.severity;
      const shape = problem.element_id && registry.get(problem.element_id);
      const head = document.createElement(shape ? "button" : "span");
      head.className = "problem-where";
      if (shape) {
        head.type = "button";
        item.dataset.element = problem.element_id;
      }
      const kind = document.createElement("span");
      kind.className = "problem-kind";
      kind.textContent = problem.severity === "error" ? this.texts.error : this.texts.warning;
      head.append(kind, " ");
      const name = shape && shape.businessObject && shape.businessObject.name;
      if (name) head.append(name + " ");
      if (problem.element_id) {
        const code = document.createElement("code");
        code.textContent = problem.element_id;
        head.append(code);
      } else {
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
      if (shape) {
        const marker = problem.severity === "error" ? "lint-error" : "lint-warning";
        if (!canvas.hasMarker(problem.element_id, "lint-error")) canvas.addMarker(problem.element_id, marker);
        this.marked.push(problem.element_id);
        counts[problem.element_id] = counts[problem.element_id] || { error: 0, warning: 0 };
        counts[problem.element_id][problem.severity] += 1;
      }
    }
    for (const [id, count] of Object.entries(counts)) {
      const badge = document.createElement("span");
      badge.className = "lint-badge " + (count.error ? "lint-badge-error" : "lint-badge-warning");
      badge.textContent = String(count.error + count.warning);
      badge.title = fill(this.texts.problems, { errors: count.error, warnings: count.warning });
      badge.dataset.element = id;
      badge.addEventListener("click", () => this.focus(id));
      overlays.add(id, "lint", { position: { top: -10, right: 10 }, html: badge });
    }
    $("modeler-problems-h").textContent = fill(this.texts.problems, {
      errors: problems.filter((p) => p.severity === "error").length,
      warnings: problems.filter((p) => p.severity !== "error").length });
    $("modeler-problems").hidden = problems.length === 0;
    if (problems.length) this.toggleSide(true);
  }

  focus(id) {
    // a problem's element, close enough to read, clear of the palette, and selected for the properties panel
    const element = this.modeler.get("elementRegistry").get(id);
    if (!element) return;
    const canvas = this.modeler.get("canvas");
    if (canvas.zoom() < 0.8) canvas.zoom(1);
    canvas.scrollToElement(element, { top: 120, bottom: 120, left: 200, right: 120 });
    this.modeler.get("selection").select(element);
  }

  // -- deploying -----------------------------------------------------------------------------------------

  askToDeploy(stale) {
    const name = this.config.name || this.config.processId;
    let text = fill(this.texts.confirm, { name });
    if (stale) {
      text = fill(this.texts.confirm_stale, {
        base: this.base ? this.base.version : this.texts.base_new, latest: stale.version });
    }
    $("modeler-confirm-text").textContent = text;
    $("modeler-confirm").hidden = false;
    $("modeler-confirm").dataset.stale = stale ? "1" : "";
    const yes = $("modeler-confirm-yes");
    const fresh = yes.cloneNode(true); // one listener: the latest question's
    yes.replaceWith(fresh);
    fresh.addEventListener("click", () => this.deploy(Boolean(stale)));
    fresh.focus();
  }

  closeConfirm() {
    $("modeler-confirm").hidden = true;
  }

  async deploy(confirmStale) {
    this.closeConfirm();
    this.deploying = true;
    window.clearTimeout(this.timer);
    this.status(this.texts.deploying);
    try {
      const { xml } = await this.modeler.saveXML({ format: true });
      const response = await this.send(this.config.urls.deploy, {
        xml, base_version_id: this.base ? this.base.version_id : null, confirm_stale: confirmStale });
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
    } catch (error) {
      this.status(fill(this.texts.deploy_failed, { message: error.message }), "error");
    } finally {
      this.deploying = false;
    }
  }

  // -- the page --------------------------------------------------------------------------------------------

  fitHeight() {
    // the diagram fills the window below the site's header, however high that header wraps
    const box = $("modeler");
    const top = box.getBoundingClientRect().top + window.scrollY;
    box.style.height = Math.max(448, window.innerHeight - top - 8) + "px";
    window.requestAnimationFrame(() => this.modeler.get("canvas").resized());
  }

  toggleSide(show) {
    const side = $("modeler-side");
    const visible = typeof show === "boolean" ? show : side.hidden;
    side.hidden = !visible;
    const button = $("modeler-toggle");
    button.setAttribute("aria-expanded", String(visible));
    button.textContent = visible ? this.texts.hide_props : this.texts.show_props;
    window.requestAnimationFrame(() => this.modeler.get("canvas").resized());
  }

  status(text, kind) {
    const node = $("modeler-status");
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

/* A finger on the diagram: diagram-js listens to the mouse only, so one finger pans and two pinch to zoom here
   (a tap still selects, and taps on the palette and the context pad create and append elements). */
function touchNavigation(canvas, container) {
  const points = new Map();
  let last = null;
  function state() {
    const p = [...points.values()];
    if (p.length === 1) return { x: p[0].x, y: p[0].y, d: 0 };
    const rect = container.getBoundingClientRect();
    const cx = (p[0].x + p[1].x) / 2;
    const cy = (p[0].y + p[1].y) / 2;
    return { x: cx, y: cy, d: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y), rx: cx - rect.left, ry: cy - rect.top };
  }
  container.addEventListener("pointerdown", (event) => {
    if (event.pointerType !== "touch") return;
    points.set(event.pointerId, { x: event.clientX, y: event.clientY });
    last = state();
  });
  container.addEventListener("pointermove", (event) => {
    if (event.pointerType !== "touch" || !points.has(event.pointerId)) return;
    points.set(event.pointerId, { x: event.clientX, y: event.clientY });
    const now = state();
    if (last && points.size >= 2 && last.d > 0) {
      canvas.zoom(Math.max(0.2, Math.min(4, canvas.zoom() * now.d / last.d)), { x: now.rx, y: now.ry });
    }
    if (last) canvas.scroll({ dx: now.x - last.x, dy: now.y - last.y });
    last = now;
  });
  function up(event) {
    points.delete(event.pointerId);
    last = points.size ? state() : null;
  }
  container.addEventListener("pointerup", up);
  container.addEventListener("pointercancel", up);
}

const configNode = $("modeler-config");
if (configNode && $("modeler-canvas")) {
  const page = new ModelerPage(JSON.parse(configNode.textContent));
  window.whistleModeler = page; // the browser tests read the diagram through it
  page.start().catch((error) => {
    page.status(fill(page.texts.request_failed, { message: error.message }), "error");
  });
}
