// The console's charts: uPlot line charts over the history points, redrawn in place
// every second. window.EDL_CHARTS keeps each chart so its data can be read back.
"use strict";
window.EDL_CHARTS = (function () {
  const charts = {};
  const COLOURS = ["#123a5e", "#0b7a2e", "#a4161a", "#b35c00", "#6a1b9a", "#00838f", "#555b63"];

  function make(id, names) {
    const host = document.getElementById(id);
    const width = Math.max(320, host.clientWidth || 480);
    const series = [{}].concat(names.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true })));
    const opts = { width, height: 200, series, axes: [{}, { size: 60 }], legend: { live: false } };
    const data = [[]].concat(names.map(() => []));
    charts[id] = new uPlot(opts, data, host);
    return charts[id];
  }

  function set(id, names, x, ys) {
    let chart = charts[id];
    if (!chart || chart.series.length !== names.length + 1) {
      if (chart) chart.destroy();
      chart = make(id, names);
    }
    names.forEach((name, i) => { chart.series[i + 1].label = name; });
    chart.setData([x].concat(ys));
    return chart;
  }

  return { set, charts };
})();
