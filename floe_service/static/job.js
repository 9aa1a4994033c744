// The job page: follows the log as it is written, keeps the state fresh, charts metric lines.
// Charts are drawn by Chart.js (served from static/vendor/).
"use strict";

const LOG_KEEP_CHARS = 2_000_000;

function floeJobPage(cfg) {
  // JupyterHub accepts a cookie-authenticated fetch() only with the page's XSRF token.
  const get = (path) => fetch(cfg.api + path, { headers: { "X-XSRFToken": cfg.xsrf } });
  const logEl = document.getElementById("log");
  const charts = new Map();
  let finished = cfg.finished;

  function appendLog(text) {
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    logEl.textContent += text;
    if (logEl.textContent.length > LOG_KEEP_CHARS) {
      logEl.textContent = "… (earlier lines: see the API's /logs)\n" +
        logEl.textContent.slice(-LOG_KEEP_CHARS);
    }
    if (atBottom && !finished) window.scrollTo(0, document.body.scrollHeight);
  }

  async function followLog() {
    const resp = await get(`jobs/${cfg.id}/logs?follow=1`);
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      appendLog(decoder.decode(value, { stream: true }));
    }
    await refresh();
  }

  async function refreshState() {
    const job = await (await get(`jobs/${cfg.id}`)).json();
    const badge = document.getElementById("state");
    badge.textContent = job.state;
    badge.className = `state state-${job.state}`;
    document.getElementById("reason").textContent = job.reason;
    if (!finished && cfg.finished_states.includes(job.state)) {
      finished = true;
      // The output, the executed notebook and the history are on the finished page.
      window.setTimeout(() => window.location.reload(), 500);
    }
  }

  async function refreshMetrics() {
    // A few hundred points are all a chart can show; the service spreads them evenly.
    const data = await (await get(`jobs/${cfg.id}/metrics?points=500`)).json();
    // Maps, not objects: a metric may be named anything, "__proto__" or "constructor" too.
    const series = new Map();
    data.metrics.forEach((m) => {
      const x = typeof m.values.step === "number" ? m.values.step : m.index;
      for (const [key, value] of Object.entries(m.values)) {
        if (key === "step" || typeof value !== "number") continue;
        if (!series.has(key)) series.set(key, []);
        series.get(key).push({ x, y: value });
      }
    });
    document.getElementById("metrics-none").hidden = series.size > 0;
    for (const [key, points] of series) {
      if (charts.has(key)) {
        charts.get(key).data.datasets[0].data = points;
        charts.get(key).update("none");
        continue;
      }
      const box = document.createElement("div");
      box.className = "chart";
      const canvas = document.createElement("canvas");
      canvas.dataset.metric = key;
      box.appendChild(canvas);
      document.getElementById("charts").appendChild(box);
      charts.set(key, new Chart(canvas, {
        type: "line",
        data: { datasets: [{ label: key, data: points, borderColor: "#f37524", pointRadius: 2 }] },
        options: {
          animation: false,
          parsing: false,
          scales: { x: { type: "linear", title: { display: true, text: "step" } } },
        },
      }));
    }
  }

  async function refresh() {
    await Promise.all([refreshState(), refreshMetrics()]);
  }

  followLog();
  refreshMetrics();
  if (!finished) {
    const timer = window.setInterval(() => {
      if (finished) window.clearInterval(timer);
      else refresh();
    }, 2000);
  }
}
