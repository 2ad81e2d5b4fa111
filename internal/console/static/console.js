// jwtledger console: small enhancements of server-rendered pages. Every
// string comes from the page (#messages, from the message catalogue).
"use strict";
(function () {
  const msgs = JSON.parse(document.getElementById("messages").textContent || "{}");
  const lang = document.body.dataset.lang || "en";
  function t(key, ...args) {
    let s = msgs[key] || key;
    args.forEach((a, i) => { s = s.split("{" + i + "}").join(String(a)); });
    return s;
  }

  // Dates in the browser's locale and time zone (the UTC text stays as title).
  const dateFmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
  function localize(el) {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) { el.title = el.textContent; el.textContent = dateFmt.format(d); }
  }
  document.querySelectorAll("time[datetime]").forEach(localize);

  // Forms that ask first.
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
  });

  liveTail();
  proveIt();
  verifyProgress();

  function liveTail() {
    const status = document.getElementById("tail-status");
    const table = document.getElementById("records");
    if (!status || !table || !window.EventSource) return;
    const body = table.tBodies[0];
    const show = document.getElementById("tail-show");
    const prefix = document.body.dataset.prefix;
    let queue = [];
    const atTop = () => window.scrollY < 80;
    function cell(tr, text, cls) {
      const td = tr.insertCell();
      if (cls) td.className = cls;
      if (text instanceof Node) td.appendChild(text); else td.textContent = text;
      return td;
    }
    function row(r) {
      const tr = document.createElement("tr");
      tr.className = "new";
      const tm = document.createElement("time");
      tm.setAttribute("datetime", r.time);
      tm.textContent = r.time;
      localize(tm);
      cell(tr, tm);
      cell(tr, r.event);
      const b = document.createElement("span");
      b.className = "badge " + (r.outcome === "ok" || r.outcome === "valid" ? "good" : "bad");
      b.textContent = r.outcome;
      cell(tr, b);
      cell(tr, r.actor || "");
      cell(tr, r.sub || "");
      cell(tr, r.jti && r.jti.length > 16 ? r.jti.slice(0, 16) + "…" : (r.jti || ""), "mono");
      const a = document.createElement("a");
      a.href = r.url.startsWith(prefix + "/") ? r.url : prefix + "/";
      a.textContent = r.chain + " #" + r.seq;
      cell(tr, a);
      return tr;
    }
    function flush() {
      const empty = body.querySelector("tr.empty");
      if (empty && queue.length) empty.remove();
      for (const r of queue) body.insertBefore(row(r), body.firstChild);
      while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
      queue = [];
      show.hidden = true;
      status.textContent = t("js.tail.live");
    }
    function paused() {
      show.hidden = false;
      show.textContent = t("js.tail.show", queue.length);
      status.textContent = t("js.tail.paused", queue.length);
    }
    show.addEventListener("click", () => { flush(); window.scrollTo(0, 0); });
    window.addEventListener("scroll", () => { if (atTop() && queue.length) flush(); }, { passive: true });
    const es = new EventSource(status.dataset.tail);
    es.addEventListener("open", () => { status.textContent = queue.length ? t("js.tail.paused", queue.length) : t("js.tail.live"); status.dataset.state = "live"; });
    es.addEventListener("record", (e) => {
      queue.push(JSON.parse(e.data));
      if (atTop()) flush(); else paused();
    });
    es.addEventListener("gap", () => { status.textContent = t("js.tail.gap"); });
    es.addEventListener("end", () => { es.close(); status.textContent = t("js.tail.ended"); status.dataset.state = "ended"; });
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED) { status.textContent = t("js.tail.ended"); status.dataset.state = "ended"; }
      else { status.textContent = t("js.tail.reconnecting"); status.dataset.state = "reconnecting"; }
    });
  }

  // "Prove it": the inclusion proof and the checkpoint's signature, checked here.
  function proveIt() {
    const box = document.getElementById("prove");
    const button = document.getElementById("prove-it");
    if (!box || !button) return;
    const out = document.getElementById("prove-result");
    function line(state, text) {
      const li = document.createElement("li");
      li.className = state;
      li.dataset.state = state;
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = t("js.mark." + state);
      li.append(mark, " ", text);
      out.appendChild(li);
    }
    button.addEventListener("click", async () => {
      out.textContent = "";
      button.disabled = true;
      try {
        await prove(box, line);
      } catch (e) {
        line("bad", t("js.prove.failed", e && e.message ? e.message : String(e)));
      } finally {
        button.disabled = false;
        out.dataset.done = "1";
      }
    });
  }

  const enc = new TextEncoder();
  function cat(...parts) {
    const n = parts.reduce((s, p) => s + p.length, 0);
    const o = new Uint8Array(n);
    let i = 0;
    for (const p of parts) { o.set(p, i); i += p.length; }
    return o;
  }
  async function sha256(b) { return new Uint8Array(await crypto.subtle.digest("SHA-256", b)); }
  function b64(s) { const r = atob(s); const o = new Uint8Array(r.length); for (let i = 0; i < r.length; i++) o[i] = r.charCodeAt(i); return o; }
  function hex(b) { return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""); }
  function equal(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }

  // RFC 9162 2.1.3.2: the root an inclusion proof leads to.
  async function rootFromProof(index, size, leaf, path) {
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    if (fn > sn) throw new Error("leaf index beyond the tree");
    for (const p of path) {
      if (sn === 0n) throw new Error("proof too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256(cat([1], p, r));
        if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
      } else {
        r = await sha256(cat([1], r, p));
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("proof too short");
    return r;
  }

  async function prove(box, line) {
    if (!window.crypto || !crypto.subtle) {
      line("bad", t("js.prove.nocrypto"));
      return;
    }
    const resp = await fetch(box.dataset.proof, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.status);
    const p = body.proof;
    // 1. The record is the one on this page, and its leaf hash.
    const rec = JSON.parse(p.record);
    const leaf = await sha256(cat([0], enc.encode(p.record)));
    if (rec.chain !== box.dataset.chain || String(rec.seq) !== box.dataset.seq || hex(leaf) !== box.dataset.leaf) {
      line("bad", t("js.prove.record"));
      return;
    }
    line("good", t("js.prove.leaf", hex(leaf).slice(0, 16)));
    // 2. The checkpoint: origin, size, root.
    const cut = p.checkpoint.indexOf("\n\n");
    if (cut < 0) throw new Error("checkpoint is not a signed note");
    const text = p.checkpoint.slice(0, cut + 1);
    const [origin, size, rootB64] = text.split("\n");
    if (origin !== "jwtledger/" + p.chain || Number(size) !== p.tree_size || p.leaf_index !== p.seq - 1) {
      line("bad", t("js.prove.origin", origin, size));
      return;
    }
    line("good", t("js.prove.checkpoint", origin, size));
    // 3. The Merkle path leads from the leaf to the checkpoint's root.
    const root = await rootFromProof(p.leaf_index, p.tree_size, leaf, (p.proof || []).map(b64));
    if (!equal(root, b64(rootB64))) {
      line("bad", t("js.prove.pathbad"));
      return;
    }
    line("good", t("js.prove.path", (p.proof || []).length, rootB64));
    // 4. The checkpoint's signature by the trusted key.
    // name+hash+base64: the base64 may itself hold "+".
    const vkey = document.getElementById("trusted-key").value.trim();
    const i1 = vkey.indexOf("+"), i2 = vkey.indexOf("+", i1 + 1);
    if (i1 < 1 || i2 < 0) { line("bad", t("js.prove.keyformat")); return; }
    const parts = [vkey.slice(0, i1), vkey.slice(i1 + 1, i2), vkey.slice(i2 + 1)];
    let kb;
    try { kb = b64(parts[2]); } catch (e) { line("bad", t("js.prove.keyformat")); return; }
    if (kb.length !== 33 || kb[0] !== 1) { line("bad", t("js.prove.keyformat")); return; }
    const pub = kb.slice(1);
    const kh = (await sha256(cat(enc.encode(parts[0] + "\n"), kb))).slice(0, 4);
    if (hex(kh) !== parts[1].toLowerCase()) { line("bad", t("js.prove.keyformat")); return; }
    let sig = null;
    for (const l of p.checkpoint.slice(cut + 2).split("\n")) {
      const m = l.match(/^\u2014 (\S+) (\S+)$/);
      if (!m || m[1] !== parts[0]) continue;
      const raw = b64(m[2]);
      if (raw.length === 68 && equal(raw.slice(0, 4), kh)) sig = raw.slice(4);
    }
    if (!sig) { line("bad", t("js.prove.nosigline", parts[0])); return; }
    let key;
    try {
      key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      line("unknown", t("js.prove.noed25519"));
      line("unknown", t("js.prove.partial"));
      return;
    }
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig, enc.encode(text));
    if (!ok) { line("bad", t("js.prove.sigbad", parts[0])); return; }
    line("good", t("js.prove.sig", parts[0]));
    line("good", t("js.prove.all"));
  }

  // The integrity page follows a running verification.
  function verifyProgress() {
    const box = document.getElementById("verify");
    const bar = document.getElementById("verify-progress");
    if (!box || !bar) return;
    const timer = setInterval(async () => {
      try {
        const r = await fetch(box.dataset.status, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        const s = await r.json();
        bar.max = s.total || 1;
        bar.value = s.done;
        bar.textContent = s.done + " / " + s.total;
        if (!s.running) { clearInterval(timer); location.reload(); }
      } catch (e) { clearInterval(timer); }
    }, 500);
  }
})();
