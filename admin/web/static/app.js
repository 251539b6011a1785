// PhoneDiversions: small improvements over pages that work without script.
"use strict";

const csrf = () => document.body.dataset.csrf || "";

// The State tab: a switch answers at once, without a page load.
function setRow(row, state) {
  if (!row) return;
  const on = state === "ON";
  const label = row.querySelector("[data-state]");
  label.textContent = state;
  label.className = "state " + (on ? "on" : "off");
  row.querySelector("input[name=state]").value = on ? "OFF" : "ON";
  const button = row.querySelector("button");
  const name = row.querySelector("th").textContent;
  button.textContent = "Switch " + (on ? "OFF" : "ON");
  button.setAttribute("aria-label", "Switch " + name + " " + (on ? "OFF" : "ON"));
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (form.matches("[data-confirm]") && !window.confirm(form.dataset.confirm)) {
    ev.preventDefault();
    return;
  }
  if (form.matches("[data-confirm]") && !form.querySelector("input[name=confirm]")) {
    const c = document.createElement("input");
    c.type = "hidden"; c.name = "confirm"; c.value = "yes";
    form.appendChild(c);
  }
  if (form.matches("[data-switch]")) {
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const resp = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)),
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf() } });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || resp.statusText);
      setRow(form.closest("tr"), body.state);
      announce(form.closest("tr").querySelector("th").textContent + " is " + body.state + ".");
      refreshSoon(); // how long it holds: the schedule's next change
    } catch (e) {
      announce("The switch failed: " + e.message);
    } finally {
      button.disabled = false;
    }
  }
  if (form.matches("[data-upload]")) {
    ev.preventDefault();
    upload(form);
  }
});

function announce(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

// Follow changes made elsewhere: switches update their row; anything else,
// a missed event or a dropped connection reloads the table.
async function refreshTable() {
  const resp = await fetch(location.pathname, { headers: { "Accept": "text/html" } });
  if (!resp.ok) return;
  const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
  const fresh = doc.getElementById("state-table");
  const old = document.getElementById("state-table");
  if (fresh && old) old.replaceWith(fresh);
  else if (fresh || old) location.reload();
}

// refreshSoon reloads the table, for the next changes of the groups that
// follow a schedule, once a second at most however many switches arrive:
// a wallboard beside a busy script stays cheap.
let refreshTimer = null;
function refreshSoon() {
  const scheduled = [...document.querySelectorAll("[data-next]")].some((e) => e.textContent.trim() !== "");
  if (refreshTimer || !scheduled) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refreshTable(); }, 1000);
}

const follow = document.querySelector("[data-follow]");
if (follow && window.EventSource) {
  const es = new EventSource(follow.dataset.follow);
  let dropped = false;
  es.addEventListener("change", (ev) => {
    const d = JSON.parse(ev.data);
    if (d.Action === "Diversion") {
      setRow(document.getElementById("group-" + d.GroupID), d.State);
      announce(d.Group + " is " + d.State + " (" + d.Username + ", " + d.Channel + ").");
      refreshSoon(); // the next changes move with a switch
    } else if (d.Action === "Group" || d.Action === "Settings") {
      refreshTable();
    }
  });
  es.addEventListener("resync", refreshTable);
  es.addEventListener("error", () => { dropped = true; });
  es.addEventListener("open", () => { if (dropped) { dropped = false; refreshTable(); } });
}

// Copy buttons of the phone service URLs.
document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (e) {
    document.execCommand("copy");
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// Announcement upload with a progress bar; a refusal shows beside the field.
function upload(form) {
  const bar = form.querySelector("progress");
  const error = form.querySelector("[data-error-for=file]");
  const button = form.querySelector("button[type=submit]");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.setRequestHeader("X-CSRF-Token", csrf());
  bar.hidden = false; bar.value = 0; error.hidden = true; button.disabled = true;
  xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) bar.value = 100 * e.loaded / e.total; });
  xhr.addEventListener("load", () => {
    button.disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: "The upload failed (" + xhr.status + ")." }; }
    if (xhr.status === 200) { location.assign("/callhandler"); return; }
    bar.hidden = true;
    const target = body.field === "name" ? document.getElementById("name") : form.querySelector("input[type=file]");
    error.textContent = body.error || "The upload failed.";
    error.hidden = false;
    target.setAttribute("aria-invalid", "true");
    target.focus();
  });
  xhr.addEventListener("error", () => {
    button.disabled = false; bar.hidden = true;
    error.textContent = "The upload was cut short; try again."; error.hidden = false;
  });
  xhr.send(new FormData(form));
}

// The schedule's week grid: drawing with the mouse sets half hours ON or
// OFF (the opposite of the first cell pressed) and rewrites the ranges
// field, which is what the form saves.
const week = document.querySelector("[data-week]");
if (week) {
  const field = document.getElementById("ranges");
  const dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const hhmm = (slot) => String(Math.floor(slot / 2)).padStart(2, "0") + ":" + (slot % 2 ? "30" : "00");
  const cells = {};
  week.querySelectorAll("td[data-day]").forEach((c) => { cells[c.dataset.day + "/" + c.dataset.slot] = c; });
  const rangesFromGrid = () => {
    const out = [];
    for (const d of [1, 2, 3, 4, 5, 6, 0]) {
      let start = -1;
      for (let s = 0; s <= 48; s++) {
        const on = s < 48 && cells[d + "/" + s].classList.contains("on");
        if (on && start < 0) start = s;
        if (!on && start >= 0) { out.push(dayNames[d] + " " + hhmm(start) + "-" + hhmm(s)); start = -1; }
      }
    }
    return out.join(", ");
  };
  let paint = null;
  const cellOf = (ev) => ev.target.closest("td[data-day]");
  week.addEventListener("mousedown", (ev) => {
    const c = cellOf(ev);
    if (!c) return;
    ev.preventDefault();
    paint = !c.classList.contains("on");
    c.classList.toggle("on", paint);
  });
  week.addEventListener("mouseover", (ev) => {
    const c = cellOf(ev);
    if (c && paint !== null) c.classList.toggle("on", paint);
  });
  document.addEventListener("mouseup", () => {
    if (paint === null) return;
    paint = null;
    field.value = rangesFromGrid();
  });
}
