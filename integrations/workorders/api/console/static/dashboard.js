// The dashboard's charts (数据看板, 月报): Apache ECharts from static/vendor, drawn on
// canvas without animation from the JSON block #dashboard-data. Each element
// [data-chart="name"] gets the chart of that name; charts follow the window's size.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  var source = document.getElementById("dashboard-data");
  if (!source || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var COLORS = ["#0b5cad", "#2e8540", "#c26a00", "#8a3ab9", "#b42318"];
  var narrow = function () { return window.matchMedia("(max-width: 600px)").matches; };

  function base(extra) {
    var option = {
      animation: false,
      color: COLORS,
      textStyle: { fontFamily: "system-ui, 'PingFang SC', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif" },
      tooltip: { trigger: "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true }
    };
    for (var key in extra) { option[key] = extra[key]; }
    return option;
  }

  function category(labels, rotate) {
    return { type: "category", data: labels,
             axisLabel: { interval: "auto", rotate: narrow() && rotate ? 45 : 0, hideOverlap: true } };
  }

  var builders = {
    volume: function () {
      var t = data.trend;
      return base({
        xAxis: category(t.labels, false), yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "受理量", type: "bar", data: t.created },
                 { name: "办结量", type: "bar", data: t.resolved }]
      });
    },
    rates: function () {
      var t = data.trend;
      var line = function (name, values) {
        return { name: name, type: "line", data: values, connectNulls: true, symbolSize: 6,
                 showAllSymbol: true };
      };
      return base({
        xAxis: category(t.labels, false),
        yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + "%"; } },
        series: [line("办结率", t.resolution_rate), line("按时办结率", t.on_time_rate),
                 line("满意率", t.satisfaction_rate)]
      });
    },
    backlog: function () {
      var b = data.backlog;
      return base({
        xAxis: category(b.labels, false), yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "未超时", type: "bar", stack: "all", data: b.on_time },
                 { name: "已超时", type: "bar", stack: "all", data: b.overdue, color: "#b42318" }]
      });
    },
    areas: function () {
      var a = data.areas;
      return base({
        xAxis: category(a.labels, true), yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "受理量", type: "bar", data: a.created },
                 { name: "办结量", type: "bar", data: a.resolved }]
      });
    },
    categories: function () {
      var c = data.categories;
      return base({
        legend: { show: false },
        yAxis: { type: "category", data: c.labels, inverse: true },
        xAxis: { type: "value", minInterval: 1 },
        series: [{ name: "受理量", type: "bar", data: c.created }]
      });
    }
  };

  var charts = [];
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (el) {
    var build = builders[el.getAttribute("data-chart")];
    if (!build) { return; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(build());
    charts.push(chart);
  });

  var resize = function () { charts.forEach(function (c) { c.resize(); }); };
  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.clearTimeout(pending); }
    pending = window.setTimeout(resize, 100);
  });
  // Printing: size the charts for the page, then back for the screen.
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  var printing = window.matchMedia("print");
  if (printing.addEventListener) { printing.addEventListener("change", resize); }
})();
