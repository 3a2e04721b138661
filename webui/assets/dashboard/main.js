// The dashboards' charts (数据看板, webui/templates/dashboard.html): Apache ECharts from npm, bundled by esbuild
// (`npm run build`, webui/assets/modeler/build.mjs) into webui/static/build/dashboard.js. The page carries each
// chart's data in a JSON block beside the table that shows the same numbers; a bar opens its cases.
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, TooltipComponent, LegendComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, SVGRenderer]);

const COLOURS = ["#b4232a", "#c98a00", "#1f5fa8", "#3b7d3b", "#6b4fa0", "#888888"];

function draw(node) {
  const spec = JSON.parse(node.querySelector("script[type='application/json']").textContent);
  const box = node.querySelector(".chart");
  const chart = echarts.init(box, null, { renderer: "svg" });
  const horizontal = spec.labels.length > 6;
  const category = { type: "category", data: spec.labels, axisLabel: { interval: 0, fontSize: 11 } };
  const value = { type: "value", minInterval: spec.percent ? undefined : 1, max: spec.percent ? 100 : undefined,
                  axisLabel: { formatter: spec.percent ? "{value}%" : "{value}" } };
  chart.setOption({
    color: COLOURS,
    tooltip: { trigger: "axis", confine: true },
    legend: spec.series.length > 1 ? { top: 0, textStyle: { fontSize: 11 } } : undefined,
    grid: { left: 8, right: 16, top: spec.series.length > 1 ? 28 : 8, bottom: 8, containLabel: true },
    xAxis: horizontal ? value : category,
    yAxis: horizontal ? { ...category, inverse: true } : value,
    series: spec.series.map((s) => ({ name: s.name, type: spec.kind === "line" ? "line" : "bar", data: s.data,
                                      barMaxWidth: 28 })),
  });
  if (horizontal) box.style.height = Math.max(220, spec.labels.length * 28 + 40) + "px";
  chart.resize();
  chart.on("click", (event) => {
    const links = spec.series[event.seriesIndex].links || [];
    const href = links[event.dataIndex];
    if (href) window.location.href = href;
  });
  window.addEventListener("resize", () => chart.resize());
}

document.querySelectorAll("[data-chart]").forEach(draw);
