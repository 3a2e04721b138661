/* The properties panel's list groups (extension properties, listeners, inputs, outputs…) draw their 新增 button
   with the translate function they are given, and bpmn-js-properties-panel gives them none: this provider, run
   after all others, hands them the modeler's. */
import { ListGroup } from "@bpmn-io/properties-panel";

const LAST = 1; // providers run from the highest priority down

function TranslatedListGroups(propertiesPanel, translate) {
  propertiesPanel.registerProvider(LAST, {
    getGroups() {
      return (groups) => groups.map((group) =>
        (group.component === ListGroup && !group.translate ? { ...group, translate } : group));
    },
  });
}

TranslatedListGroups.$inject = ["propertiesPanel", "translate"];

export default {
  __init__: ["translatedListGroups"],
  translatedListGroups: ["type", TranslatedListGroups],
};
