// The task page: one metric's last value charted across the task's jobs (Chart.js), the
// chosen metric kept in the address, and the page fresh while the task runs.
"use strict";

function floeTaskPage(cfg) {
  const select = document.getElementById("chart-metric");
  const canvas = document.getElementById("task-chart");
  let chart = null;

  function draw() {
    const metric = select.value;
    const jobs = [];
    for (const job of cfg.jobs) {
      // Pairs, not objects: a metric may be named anything, "__proto__" too.
      const found = job.values.find(([key]) => key === metric);
      if (found && typeof found[1] === "number") jobs.push({ job, value: found[1] });
    }
    const data = {
      labels: jobs.map(({ job }) => job.label),
      datasets: [{
        label: metric,
        data: jobs.map(({ value }) => value),
        backgroundColor: jobs.map(({ job }) => job.best.includes(metric) ? "#f37524" : "#93c5fd"),
      }],
    };
    if (chart) chart.destroy();
    chart = new Chart(canvas, {
      type: "bar",
      data,
      options: { animation: false, plugins: { legend: { display: false } } },
    });
    const url = new URL(window.location.href);
    url.searchParams.set("chart", metric);
    window.history.replaceState(null, "", url);
  }

  if (select) {
    const wanted = new URL(window.location.href).searchParams.get("chart");
    if (wanted && cfg.metrics.includes(wanted)) select.value = wanted;
    select.addEventListener("change", draw);
    draw();
  }
  if (!cfg.finished) window.setTimeout(() => window.location.reload(), 5000);
}
