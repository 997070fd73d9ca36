// The live page: one stream (GET /api/stream, newline-delimited JSON) keeps a model of
// nodes, pods, services, endpoints, events and metrics; every change re-renders
// only what it touched, once per animation frame. Text goes in with textContent only.
"use strict";

const model = { Node: new Map(), Pod: new Map(), Service: new Map(), Endpoints: new Map(),
                Event: new Map(), metrics: { pods: {}, nodes: {} } };
const dirty = new Set();
let token = "";

function key(o) { return o.namespace ? `${o.namespace}/${o.name}` : o.name; }
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function start() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem("mkp-token", fromUrl);
    history.replaceState(null, "", location.pathname);  // keep it out of the address bar
  }
  token = sessionStorage.getItem("mkp-token") || "";
  const form = document.getElementById("login");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = document.getElementById("token").value.trim();
    sessionStorage.setItem("mkp-token", token);
    form.hidden = true;
    connect();
  });
  document.getElementById("logs-close").addEventListener("click", () => {
    document.getElementById("logs").hidden = true;
  });
  if (token) connect(); else form.hidden = false;
}

async function connect() {
  const status = document.getElementById("status");
  status.textContent = "connecting";
  status.className = "status";
  let resp;
  try {
    resp = await fetch("/api/stream", { headers: { Authorization: `Bearer ${token}` } });
  } catch (e) {
    return retry(`${e}`);
  }
  if (resp.status === 401 || resp.status === 403) {
    status.textContent = `token refused (${resp.status})`;
    sessionStorage.removeItem("mkp-token");
    document.getElementById("login").hidden = false;
    return;
  }
  if (!resp.ok) return retry(`HTTP ${resp.status}`);
  document.getElementById("main").hidden = false;
  status.textContent = "live";
  status.className = "status live";
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      return retry(`${e}`);
    }
    if (chunk.done) return retry("stream ended");
    buffer += decoder.decode(chunk.value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line) apply(JSON.parse(line));
    }
  }
}

function retry(why) {
  const status = document.getElementById("status");
  status.textContent = `reconnecting (${why})`;
  status.className = "status";
  setTimeout(connect, 2000);
}

function apply(msg) {
  if (msg.type === "METRICS") {
    if (msg.pods) model.metrics.pods = msg.pods;
    if (msg.nodes) model.metrics.nodes = msg.nodes;
    dirty.add("Node").add("Pod");
  } else if (msg.type === "ERROR") {
    console.warn(msg.message);
  } else {
    const store = model[msg.kind];
    if (msg.type === "SNAPSHOT") {
      store.clear();
      for (const o of msg.objects) store.set(key(o), o);
    } else if (msg.type === "DELETED") {
      store.delete(key(msg.object));
    } else {
      store.set(key(msg.object), msg.object);
    }
    dirty.add(msg.kind);
  }
  schedule();
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    if (dirty.has("Node") || dirty.has("Pod")) renderNodes();
    if (dirty.has("Node")) renderOverlay();
    if (dirty.has("Service") || dirty.has("Endpoints")) renderServices();
    if (dirty.has("Event")) renderEvents();
    dirty.clear();
    const pods = [...model.Pod.values()];
    document.getElementById("summary").textContent =
      `${model.Node.size} nodes, ${pods.length} pods ` +
      `(${pods.filter((p) => p.phase === "Running").length} running), ` +
      `${model.Service.size} services`;
  });
}

// Nodes and pods: one card per node, one chip per pod, kept by key so a change to one
// pod touches one element (a thousand pods render once, then change one at a time).
const cards = new Map();
const chips = new Map();

function renderNodes() {
  const container = document.getElementById("nodes");
  const names = [...model.Node.keys()].sort();
  const wanted = new Set([...names, ""]);
  for (const [name, card] of cards) {
    if (!wanted.has(name)) { card.remove(); cards.delete(name); }
  }
  for (const name of [...names, ""]) {
    let card = cards.get(name);
    if (!card) {
      card = el("div", "node");
      card.dataset.node = name;
      card.append(el("h3"), el("div", "facts"), el("div", "pods"));
      cards.set(name, card);
    }
    container.append(card);  // keeps the sorted order; unscheduled pods last
    const node = model.Node.get(name);
    card.querySelector("h3").textContent = node ? `${name}${node.ready ? "" : " (NotReady)"}` :
      "not scheduled";
    card.classList.toggle("notready", !!node && !node.ready);
    const use = model.metrics.nodes[name];
    card.querySelector(".facts").textContent = node ?
      `${node.address}  pods ${node.podCIDR}${use ? `  cpu ${use.cpu} mem ${use.memory}` : ""}` : "";
  }
  const seen = new Set();
  for (const [k, pod] of model.Pod) {
    if (pod.hostNetwork && !pod.node) continue;
    seen.add(k);
    let chip = chips.get(k);
    if (!chip) {
      chip = el("span", "pod");
      chip.dataset.pod = k;
      chip.addEventListener("click", () => showLogs(chip.dataset.pod));
      chips.set(k, chip);
    }
    const card = cards.get(model.Node.has(pod.node) ? pod.node : "");
    const list = card.querySelector(".pods");
    if (chip.parentNode !== list) list.append(chip);
    const use = model.metrics.pods[k];
    chip.className = `pod ${pod.phase}${pod.ready === pod.total ? " ready" : ""}` +
      `${pod.deleting ? " deleting" : ""}`;
    chip.dataset.phase = pod.phase;
    chip.textContent = `${pod.name} ${pod.ready}/${pod.total}` +
      (pod.restarts ? ` ↻${pod.restarts}` : "") + (pod.reason ? ` ${pod.reason}` : "");
    if (use) chip.append(el("span", "use", ` ${use.cpu} ${use.memory}`));
    chip.title = `${k}\n${pod.phase} ${pod.ip}\n${pod.owner}`;
  }
  for (const [k, chip] of chips) {
    if (!seen.has(k)) { chip.remove(); chips.delete(k); }
  }
}

function rows(tbody, data) {
  tbody.replaceChildren(...data.map((cells) => {
    const tr = el("tr");
    for (const cell of cells) {
      const td = el("td", cell.cls || "", cell.text === undefined ? cell : cell.text);
      tr.append(td);
    }
    return tr;
  }));
}

function renderOverlay() {
  const nodes = [...model.Node.values()].sort((a, b) => a.name.localeCompare(b.name));
  rows(document.querySelector("#overlay tbody"), nodes.map((n) => [
    n.name, n.podCIDR, n.underlay, n.vtepMac,
    nodes.filter((o) => o.name !== n.name).map((o) => `${o.name} (${o.underlay})`).join(", "),
  ]));
}

function renderServices() {
  const services = [...model.Service.values()].sort((a, b) => key(a).localeCompare(key(b)));
  rows(document.querySelector("#services tbody"), services.map((s) => {
    const eps = (model.Endpoints.get(key(s)) || { endpoints: [] }).endpoints
      .map((p) => `${p.ip}${p.ready ? "" : " (not ready)"}${p.pod ? ` ${p.pod}` : ""}`);
    return [key(s), s.type, s.clusterIP,
            s.ports.map((p) => `${p.port}${p.nodePort ? ":" + p.nodePort : ""}/${p.protocol}`)
              .join(", "),
            s.loadBalancer.join(", "), eps.join(", ") || "none"];
  }));
}

function renderEvents() {
  const events = [...model.Event.values()].sort((a, b) => b.time.localeCompare(a.time))
    .slice(0, 100);
  rows(document.querySelector("#events tbody"), events.map((e) => [
    e.time, { text: e.type, cls: e.type }, e.reason, e.object,
    e.count > 1 ? `${e.message} (x${e.count})` : e.message,
  ]));
}

async function showLogs(podKey) {
  const pod = model.Pod.get(podKey);
  if (!pod) return;
  const panel = document.getElementById("logs");
  document.getElementById("logs-title").textContent = `logs of ${podKey}`;
  const text = document.getElementById("logs-text");
  text.textContent = "loading";
  panel.hidden = false;
  const container = pod.containers[0] || "";
  const resp = await fetch(`/api/logs/${pod.namespace}/${pod.name}?container=` +
                           encodeURIComponent(container),
                           { headers: { Authorization: `Bearer ${token}` } });
  text.textContent = await resp.text();
}

start();
