/*
 * hubzip dashboard: reads the stats API of the daemon that served it and
 * draws totals, the savings per stage, the ingest history, the largest
 * repos and the model families.  No framework, nothing loaded from
 * elsewhere; every string from the API goes into the page as text, never
 * as markup.  Refreshes every 10 s.
 */
"use strict";

(function () {
	const REFRESH_MS = 10000;
	const TOKEN_KEY = "hubzip.token";
	const REPOS_SHOWN = 12;
	const SVG_NS = "http://www.w3.org/2000/svg";

	/* The stages in pipeline order: the key in the API, a name, what it is. */
	const STAGES = [
		["file_dedup", "File dedup", "identical files stored once"],
		["tensor_dedup", "Tensor dedup", "identical tensors stored once"],
		["delta", "XOR-delta", "fine-tunes and casts as deltas to a base"],
		["coding", "Float coding", "byte planes and entropy coding"],
		["stored", "Stored", "what remains on disk"],
	];

	const state = {
		stats: null,
		history: [],		/* the rows of /api/stats/history, oldest first */
		historyLast: 0,		/* the id of the last one */
		familyDetail: new Map(),	/* family id -> GET /api/stats/families/{id} */
		loading: new Set(),		/* family ids being fetched */
		open: new Set(),		/* expanded family ids */
		sort: { key: "logical", dir: -1 },
		showAllRepos: false,
		busy: false,		/* a refresh is running */
		again: false,		/* and another was asked for meanwhile */
		epoch: 0,		/* counts token changes */
	};

	/* ---- small helpers ------------------------------------------------ */

	const $ = (id) => document.getElementById(id);

	function h(tag, attrs, ...kids) {
		const el = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === "class")
				el.className = v;
			else if (k === "text")
				el.textContent = v;
			else
				el.setAttribute(k, v === true ? "" : String(v));
		}
		for (const kid of kids.flat()) {
			if (kid === null || kid === undefined || kid === false)
				continue;
			el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
		}
		return el;
	}

	function s(tag, attrs, ...kids) {
		const el = document.createElementNS(SVG_NS, tag);
		for (const [k, v] of Object.entries(attrs || {}))
			if (v !== null && v !== undefined)
				el.setAttribute(k, String(v));
		for (const kid of kids.flat())
			if (kid)
				el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
		return el;
	}

	/* Numbers by value, strings by code point (as the API orders names). */
	const cmp = (x, y) => (typeof x === "number" ? x - y : x < y ? -1 : x > y ? 1 : 0);
	const num = (v) => (typeof v === "number" && isFinite(v) ? v : 0);

	/* Bytes in decimal units, three significant digits: 1.23 MB. */
	function fmtBytes(n) {
		n = num(n);
		const neg = n < 0;
		let v = Math.abs(n);
		const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
		let u = 0;
		while (v >= 999.5 && u < units.length - 1) {	/* 999.7 kB is 1.00 MB */
			v /= 1000;
			u++;
		}
		const txt = u === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
		return (neg ? "−" : "") + txt + " " + units[u];
	}

	const fmtInt = (n) => num(n).toLocaleString("en-US");
	const fmtPct = (x) => (isFinite(x) ? (Math.abs(x) >= 0.1 || x === 0 ? x.toFixed(1) : x.toFixed(2)) : "0") + "%";
	const ratioOf = (l, p) => (p > 0 ? l / p : 0);
	const fmtRatio = (r) => (r > 0 ? (r >= 10 ? r.toFixed(1) : r.toFixed(2)) + "×" : "–");

	function exactBytes(n) {
		return fmtInt(n) + " bytes";
	}

	/* "ns/name" with the namespace dimmed. */
	function repoName(repo) {
		const i = String(repo).indexOf("/");
		if (i < 0)
			return h("span", { class: "repo" }, repo);
		return h("span", { class: "repo" }, h("span", { class: "ns" }, repo.slice(0, i + 1)),
			 repo.slice(i + 1));
	}

	/* ---- the token ---------------------------------------------------- */

	function token() {
		try {
			return localStorage.getItem(TOKEN_KEY) || "";
		} catch (e) {
			return "";
		}
	}

	function setToken(t) {
		try {
			if (t)
				localStorage.setItem(TOKEN_KEY, t);
			else
				localStorage.removeItem(TOKEN_KEY);
		} catch (e) {
			/* storage disabled: the token lasts for this page only */
		}
		memToken = t;
	}
	let memToken = "";

	/* A token in the fragment (#token=hf_...), which browsers do not send
	 * to the server, is kept and taken off the address: a link can carry
	 * it once. */
	function tokenFromFragment() {
		const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
		if (!m)
			return;
		try {
			setToken(decodeURIComponent(m[1]));
		} catch (e) {
			notice("The token in the address is not well-formed.");
		}
		history.replaceState(null, "", location.pathname + location.search);
	}

	/* ---- fetching ----------------------------------------------------- */

	class HttpError extends Error {
		constructor(status, msg) {
			super(msg);
			this.status = status;
		}
	}

	async function getJSON(path) {
		const headers = { Accept: "application/json" };
		const t = token() || memToken;
		if (t)
			headers.Authorization = "Bearer " + t;
		const r = await fetch(path, { headers, cache: "no-store" });
		let body = null;
		try {
			body = await r.json();
		} catch (e) {
			body = null;
		}
		if (!r.ok) {
			const err = body && body.error;
			const msg = err ? (typeof err === "string" ? err : err.message || err.code) : r.statusText;
			throw new HttpError(r.status, msg || "HTTP " + r.status);
		}
		return body;
	}

	/* ---- the model the page draws ------------------------------------- */

	/* The stages of a JSON object, as numbers (missing ones are 0). */
	function stagesOf(o) {
		const st = (o && o.stages) || {};
		return { file_dedup: num(st.file_dedup), tensor_dedup: num(st.tensor_dedup),
			 delta: num(st.delta), coding: num(st.coding) };
	}

	/* GET /api/stats (docs/api.md, "Storage statistics") as the page uses it. */
	function normalize(st) {
		const repos = (st.repos || []).map((r) => ({
			repo: r.repo,
			type: r.type || "model",
			private: !!r.private,
			family: r.family === undefined ? null : r.family,
			logical: num(r.logical_bytes),
			physical: num(r.physical_bytes),
			exclusive: num(r.exclusive_bytes),
			stages: stagesOf(r),
		}));
		const families = (st.families || []).map((f) => ({
			id: f.family,
			root: f.root,
			members: num(f.members),
			hidden: num(f.hidden_members),
			repos: Array.isArray(f.repos) ? f.repos : [],
			logical: num(f.logical_bytes),
			physical: num(f.physical_bytes),
			stages: stagesOf(f),
		}));
		const rest = st.rest || {};
		return {
			generation: st.generation,
			computedAt: st.computed_at,
			logical: num(st.logical_bytes),
			physical: num(st.physical_bytes),
			stages: stagesOf(st),
			counts: st.counts || {},
			repos,
			rest: { repos: num(rest.repos), logical: num(rest.logical_bytes),
				physical: num(rest.physical_bytes) },
			families,
		};
	}

	/* ---- totals ------------------------------------------------------- */

	function renderTotals(m) {
		const L = $("total-logical"), P = $("total-physical");
		L.textContent = fmtBytes(m.logical);
		L.dataset.bytes = String(m.logical);
		L.title = exactBytes(m.logical);
		P.textContent = fmtBytes(m.physical);
		P.dataset.bytes = String(m.physical);
		P.title = exactBytes(m.physical);
		const r = ratioOf(m.logical, m.physical);
		$("total-ratio").textContent = fmtRatio(r);
		$("total-ratio").dataset.ratio = r.toFixed(4);
		const saved = m.logical - m.physical;
		$("total-saved-pct").textContent = m.logical > 0 ? fmtPct((100 * saved) / m.logical) : "–";
		$("total-saved").textContent = m.logical > 0 ? fmtBytes(saved) + " not stored" : "nothing stored yet";
		$("total-saved").title = exactBytes(saved);

		const c = m.counts;
		const item = (label, v, extra, key) =>
			h("div", { "data-count": key }, h("dt", { text: label }),
			  h("dd", {}, fmtInt(v), h("small", {}, extra || "\u00a0")));
		const nfam = c.families !== undefined ? c.families : m.families.length;
		$("counts").replaceChildren(
			item("repos", c.repos !== undefined ? c.repos : m.repos.length, null, "repos"),
			item("revisions", c.revisions, null, "revisions"),
			item("families", nfam, null, "families"),
			item("files", c.files, c.unique_files !== undefined ? fmtInt(c.unique_files) + " unique" : "", "files"),
			item("tensors", c.tensors, c.unique_tensors !== undefined ? fmtInt(c.unique_tensors) + " unique" : "", "tensors"),
			item("packs", c.packs, c.pack_bytes !== undefined ? fmtBytes(c.pack_bytes) : "", "packs"));
	}

	/* ---- the stage bar ------------------------------------------------ */

	function renderStages(m) {
		const bar = $("stage-bar"), legend = $("stage-legend");
		const vals = STAGES.map(([k]) => (k === "stored" ? m.physical : num(m.stages[k])));
		const total = m.logical > 0 ? m.logical : 0;
		bar.replaceChildren();
		legend.replaceChildren();
		STAGES.forEach(([key, name, desc], i) => {
			const v = vals[i];
			const pct = total > 0 ? (100 * v) / total : 0;
			const w = total > 0 ? Math.max(0, (100 * v) / total) : 0;
			if (w > 0) {
				const seg = h("div", { class: "seg s-" + key, "data-stage": key },
					      w >= 7 ? fmtPct(pct) : "");
				seg.style.width = w + "%";
				tip(seg, () => [h("b", { text: name }), h("br"), fmtBytes(v) + " · " + fmtPct(pct) +
						" of logical", h("br"), h("span", { class: "muted", text: desc })]);
				bar.append(seg);
			}
			legend.append(h("li", { "data-stage": key, "data-bytes": v },
					h("span", { class: "sw s-" + key }),
					h("span", { class: "name", text: name }),
					h("span", { class: "amt", title: exactBytes(v) }, fmtBytes(v),
					  h("span", { class: "pct", text: total > 0 ? fmtPct(pct) : "" })),
					h("span", { class: "desc", text: desc })));
		});
		bar.setAttribute("aria-label", "savings per stage: " + STAGES.map(([, n], i) =>
			n + " " + fmtBytes(vals[i])).join(", "));
	}

	/* ---- a small stacked bar: stages and what is stored --------------- */

	/* One bar per row of a table: each stage's savings and the stored
	 * bytes as shares of the logical bytes, in the stage bar's colours. */
	function stackBar(logical, physical, stages) {
		const bar = h("div", { class: "minibar stack" });
		if (logical <= 0)
			return bar;
		const parts = STAGES.map(([k]) => [k, k === "stored" ? physical : Math.max(0, num(stages && stages[k]))]);
		for (const [k, v] of parts) {
			if (v <= 0)
				continue;
			const seg = h("span", { class: "s-" + k });
			seg.style.width = ((100 * v) / logical).toFixed(2) + "%";
			bar.append(seg);
		}
		tip(bar, () => [h("b", { text: fmtPct((100 * physical) / logical) + " of " + fmtBytes(logical) + " stored" }),
				...parts.filter(([, v]) => v > 0).map(([k, v]) =>
					[h("br"), h("span", { class: "sw-inline s-" + k }),
					 STAGES.find((x) => x[0] === k)[1] + " " + fmtBytes(v)])]);
		return bar;
	}

	function tags(r) {
		return [r.type === "dataset" ? h("span", { class: "tag", text: "dataset" }) : null,
			r.private ? h("span", { class: "tag tag-private", text: "private" }) : null];
	}

	/* ---- largest repos ------------------------------------------------ */

	function renderRepos(m) {
		const table = $("repos"), body = table.tBodies[0];
		const { key, dir } = state.sort;
		const rows = m.repos.map((r) => Object.assign({ ratio: ratioOf(r.logical, r.physical) }, r));
		rows.sort((a, b) => cmp(a[key], b[key]) * dir || cmp(a.repo, b.repo));
		for (const th of table.tHead.rows[0].cells)
			if (th.dataset.key === key)
				th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
			else
				th.removeAttribute("aria-sort");
		const shown = state.showAllRepos ? rows : rows.slice(0, REPOS_SHOWN);
		const out = shown.map((r) =>
			h("tr", { "data-repo": r.repo },
			  h("td", { class: "name", title: r.repo }, h("div", { class: "cell" }, repoName(r.repo), tags(r))),
			  h("td", { class: "num", title: exactBytes(r.logical) }, fmtBytes(r.logical)),
			  h("td", { class: "num", title: exactBytes(r.physical) + (r.exclusive ? "; " +
					fmtBytes(r.exclusive) + " only this repo needs" : "") }, fmtBytes(r.physical)),
			  h("td", { class: "num" + (r.ratio >= 2 ? " ratio-good" : "") }, fmtRatio(r.ratio)),
			  h("td", { class: "bar-cell" }, stackBar(r.logical, r.physical, r.stages))));
		if (!rows.length && !m.rest.repos)
			out.push(h("tr", { class: "empty" }, h("td", { colspan: 5 },
				"no repos yet: ingest or push one")));
		if (rows.length > REPOS_SHOWN) {
			const more = h("button", { type: "button", class: "btn btn-small" },
				       state.showAllRepos ? "show the largest " + REPOS_SHOWN : "show all " + rows.length);
			more.addEventListener("click", () => {
				state.showAllRepos = !state.showAllRepos;
				renderRepos(m);
				renderHistory();
			});
			out.push(h("tr", { class: "more" }, h("td", { colspan: 5 }, more)));
		}
		if (m.rest.repos)
			out.push(h("tr", { class: "rest" },
				   h("td", {}, fmtInt(m.rest.repos) + (m.rest.repos === 1 ? " repo" : " repos") +
				     " not listed (private to you, or beyond the limit)"),
				   h("td", { class: "num" }, fmtBytes(m.rest.logical)),
				   h("td", { class: "num" }, fmtBytes(m.rest.physical)),
				   h("td", { class: "num" }, fmtRatio(ratioOf(m.rest.logical, m.rest.physical))),
				   h("td")));
		body.replaceChildren(...out);
	}

	function setupSort() {
		for (const th of $("repos").tHead.rows[0].cells) {
			if (!th.dataset.key)
				continue;
			th.addEventListener("click", () => {
				const k = th.dataset.key;
				if (state.sort.key === k)
					state.sort.dir = -state.sort.dir;
				else
					state.sort = { key: k, dir: k === "repo" ? 1 : -1 };
				if (state.stats)
					renderRepos(state.stats);
			});
		}
	}

	/* ---- families ----------------------------------------------------- */

	/* The readable members of a family: the full list once fetched
	 * (GET /api/stats/families/{id}), else the summary's (at most 50). */
	function membersOf(m, f) {
		const byRepo = new Map(m.repos.map((r) => [r.repo, r]));
		const detail = state.familyDetail.get(f.id);
		const list = detail && detail.generation === m.generation ? detail.repos : f.repos;
		return list.map((x) => {
			const r = byRepo.get(x.repo);
			return {
				repo: x.repo,
				base: x.base || null,
				score: x.score,
				type: r ? r.type : x.type,
				private: r ? r.private : !!x.private,
				logical: num(x.logical_bytes),
				physical: num(x.physical_bytes),
				stages: x.stages ? stagesOf(x) : r ? r.stages : null,
			};
		});
	}

	/* Fetches a family's every member when the summary lists only some. */
	async function loadFamily(f) {
		const m = state.stats;
		const d = state.familyDetail.get(f.id);
		/* the summary lists at most 50, and counts the rest as hidden
		 * whether or not the caller may read them */
		if (f.repos.length >= f.members || (d && d.generation === m.generation) ||
		    state.loading.has(f.id))
			return;
		state.loading.add(f.id);
		try {
			const epoch = state.epoch;
			const detail = await getJSON("/api/stats/families/" + encodeURIComponent(f.id));
			if (epoch !== state.epoch)
				return;
			state.familyDetail.set(f.id, detail);
			if (state.stats)
				renderFamilies(state.stats);
		} catch (e) {
			notice("Cannot read family " + f.id + ": " + e.message);
		} finally {
			state.loading.delete(f.id);
		}
	}

	function renderFamilies(m) {
		const body = $("families").tBodies[0];
		const fams = m.families;
		const rows = [];
		for (const f of fams) {
			const open = state.open.has(f.id);
			const r = ratioOf(f.logical, f.physical);
			const tr = h("tr", { class: "fam", "data-family": f.id, "aria-expanded": open ? "true" : "false",
					     tabindex: 0 },
				     h("td", { class: "name", title: f.root || "" }, h("div", { class: "cell" },
				       h("span", { class: "caret", "aria-hidden": "true" }, "▸"),
				       f.root ? repoName(f.root) : h("span", { class: "muted", text: "(a root you cannot read)" }))),
				     h("td", { class: "num" }, fmtInt(f.members)),
				     h("td", { class: "num", title: exactBytes(f.logical) }, fmtBytes(f.logical)),
				     h("td", { class: "num", title: exactBytes(f.physical) }, fmtBytes(f.physical)),
				     h("td", { class: "num" + (r >= 2 ? " ratio-good" : "") }, fmtRatio(r)),
				     h("td", { class: "bar-cell" }, stackBar(f.logical, f.physical, f.stages)));
			const toggle = () => {
				if (state.open.has(f.id)) {
					state.open.delete(f.id);
				} else {
					state.open.add(f.id);
				}
				renderFamilies(m);
			};
			tr.addEventListener("click", toggle);
			tr.addEventListener("keydown", (e) => {
				if (e.key === "Enter" || e.key === " ") {
					e.preventDefault();
					toggle();
				}
			});
			rows.push(tr);
			if (!open)
				continue;
			loadFamily(f);	/* again when the store changed */
			for (const mem of membersOf(m, f)) {
				const isRoot = mem.repo === f.root;
				const mr = ratioOf(mem.logical, mem.physical);
				rows.push(h("tr", { class: "member", "data-member": mem.repo },
					    h("td", { class: "name", title: mem.repo },
					      h("div", { class: "cell" }, repoName(mem.repo), tags(mem),
						isRoot ? h("span", { class: "tag tag-root", text: "root" }) : null),
					      mem.base ? h("div", { class: "base" }, "delta against " + mem.base +
						(typeof mem.score === "number" ? " · similarity " + mem.score.toFixed(3) : "")) : null),
					    h("td", { class: "num" }),
					    h("td", { class: "num", title: exactBytes(mem.logical) }, fmtBytes(mem.logical)),
					    h("td", { class: "num", title: exactBytes(mem.physical) }, fmtBytes(mem.physical)),
					    h("td", { class: "num" + (mr >= 2 ? " ratio-good" : "") }, fmtRatio(mr)),
					    h("td", { class: "bar-cell" }, stackBar(mem.logical, mem.physical, mem.stages))));
			}
			const d = state.familyDetail.get(f.id);
			const full = d && d.generation === m.generation;
			const rest = f.members - (full ? d.repos.length : f.repos.length);
			if (rest > 0)
				rows.push(h("tr", { class: "member" }, h("td", { colspan: 6, class: "muted" },
					fmtInt(rest) + " more " + (rest === 1 ? "member" : "members") +
					(full ? " you cannot read" : ": loading…"))));
		}
		if (!fams.length)
			rows.push(h("tr", { class: "empty" }, h("td", { colspan: 6 }, "no families yet")));
		body.replaceChildren(...rows);
	}

	/* ---- the ingest history ------------------------------------------- */

	/* Reads the history rows after the last one held (GET
	 * /api/stats/history?after=ID): rows are only ever appended. */
	async function loadHistory() {
		const epoch = state.epoch;
		for (let page = 0; page < 20; page++) {
			const q = state.historyLast ? "?limit=10000&after=" + state.historyLast : "?limit=10000";
			const r = await getJSON("/api/stats/history" + q);
			if (epoch !== state.epoch)
				return;	/* read with another token */
			const rows = (r && r.history) || [];
			for (const e of rows)
				state.history.push(e);
			if (rows.length)
				state.historyLast = rows[rows.length - 1].id;
			if (!r.truncated || !rows.length)
				break;
		}
	}

	/* Points {t (ms), logical, physical, label}: the store's bytes added
	 * up over the ingests, oldest first. */
	function historyPoints(rows) {
		const pts = [];
		let cl = 0, cp = 0;
		for (const e of rows) {
			/* time has milliseconds; unix only seconds */
			let t = Date.parse(e.time || "");
			if (!isFinite(t))
				t = typeof e.unix === "number" ? e.unix * 1000 : NaN;
			if (!isFinite(t))
				continue;
			cl += num(e.logical_bytes);
			cp += num(e.physical_bytes);
			pts.push({ t, logical: cl, physical: cp, label: e.repo || "a repo you cannot read",
				   addL: num(e.logical_bytes), addP: num(e.physical_bytes) });
		}
		pts.sort((a, b) => a.t - b.t);
		return pts;
	}

	/* Rounded axis steps: 1, 2, 5 x 10^k. */
	function niceStep(range, n) {
		const raw = range / Math.max(1, n);
		const p = Math.pow(10, Math.floor(Math.log10(raw)));
		const f = raw / p;
		return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
	}

	function fmtTime(t, span) {
		const d = new Date(t);
		const pad = (x) => String(x).padStart(2, "0");
		const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
		if (span < 5 * 60e3)
			return hm + ":" + pad(d.getSeconds());
		if (span < 2 * 86400e3)
			return hm;
		return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
	}

	function renderHistory() {
		const box = $("history");
		const pts = historyPoints(state.history);
		if (!pts.length) {
			box.replaceChildren(h("p", { class: "empty" }, "nothing ingested yet: ",
					      h("code", { text: "hubzip ingest REPO DIR" }), " or ", h("code", { text: "hubzip push" })));
			box.dataset.points = "0";
			return;
		}
		const W = Math.max(320, box.clientWidth || 640);
		const H = Math.max(240, (box.clientHeight || 300) - 28);	/* the legend below */
		const pad = { l: 64, r: 16, t: 12, b: 28 };
		const iw = W - pad.l - pad.r, ih = H - pad.t - pad.b;
		/* x is time; ingests all within a minute (a fresh store) are
		 * spread out in their order instead, or they would be one step */
		const span = pts[pts.length - 1].t - pts[0].t;
		const byOrder = span < 60e3;
		pts.forEach((p, i) => (p.pos = byOrder ? i + 1 : p.t));
		const t0 = byOrder ? 0 : pts[0].t, t1 = byOrder ? pts.length : pts[pts.length - 1].t;
		const ymaxRaw = Math.max(1, ...pts.map((p) => p.logical), ...pts.map((p) => p.physical));
		const ystep = niceStep(ymaxRaw, 4);
		const ymax = Math.ceil(ymaxRaw / ystep) * ystep;
		const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * iw;
		const y = (v) => pad.t + ih - (v / ymax) * ih;

		/* a step line: totals change at each ingest and hold until the next */
		const stepPath = (key) => {
			let d = "M" + x(t0).toFixed(1) + "," + y(0).toFixed(1);
			for (const p of pts)
				d += "H" + x(p.pos).toFixed(1) + "V" + y(p[key]).toFixed(1);
			return d + "H" + x(t1).toFixed(1);
		};
		const area = (key) => stepPath(key) + "V" + y(0).toFixed(1) + "Z";

		const grid = s("g", { class: "grid" });
		const axis = s("g", { class: "axis" });
		for (let v = 0; v <= ymax + ystep / 2; v += ystep) {
			grid.append(s("line", { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v) }));
			axis.append(s("text", { x: pad.l - 8, y: y(v) + 4, "text-anchor": "end" }, fmtBytes(v)));
		}
		if (byOrder) {
			const step = Math.max(1, Math.ceil(niceStep(pts.length, Math.max(2, Math.floor(iw / 70)))));
			for (let i = step; i <= pts.length; i += step)
				axis.append(s("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, "#" + i));
		} else {
			const nt = Math.max(2, Math.min(6, Math.floor(iw / 120)));
			for (let i = 0; i <= nt; i++) {
				const t = t0 + ((t1 - t0) * i) / nt;
				axis.append(s("text", { x: x(t), y: H - 8,
							"text-anchor": i === 0 ? "start" : i === nt ? "end" : "middle" },
					      fmtTime(t, t1 - t0)));
			}
		}
		/* a dot per ingest while they are few enough to tell apart */
		const marks = s("g", { class: "marks" });
		if (pts.length <= 80)
			for (const p of pts)
				marks.append(s("circle", { class: "dot-logical", cx: x(p.pos), cy: y(p.logical), r: 2.5 }),
					     s("circle", { class: "dot-physical", cx: x(p.pos), cy: y(p.physical), r: 2.5 }));
		const cursor = s("line", { class: "cursor", y1: pad.t, y2: pad.t + ih, visibility: "hidden" });
		const dotL = s("circle", { class: "dot-logical", r: 4, visibility: "hidden" });
		const dotP = s("circle", { class: "dot-physical", r: 4, visibility: "hidden" });
		const svg = s("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
				       "aria-label": "cumulative logical and physical bytes over time" },
			      grid,
			      s("path", { class: "area-logical", d: area("logical") }),
			      s("path", { class: "area-physical", d: area("physical") }),
			      s("path", { class: "line-logical", d: stepPath("logical") }),
			      s("path", { class: "line-physical", d: stepPath("physical") }),
			      marks, axis, cursor, dotL, dotP);
		const last = pts[pts.length - 1];
		const legend = h("div", { class: "history-legend" },
				 h("span", { class: "l" }, "logical " + fmtBytes(last.logical)),
				 h("span", { class: "p" }, "physical " + fmtBytes(last.physical)),
				 h("span", { title: byOrder && pts.length > 1 ? "all within " + Math.max(1, Math.ceil(span / 1000)) +
					     " s, so drawn one after the other" : null },
				   fmtInt(pts.length) + (pts.length === 1 ? " ingest" : " ingests") +
				   (byOrder && pts.length > 1 ? ", in order" : "")));
		svg.addEventListener("mousemove", (ev) => {
			const rect = svg.getBoundingClientRect();
			const mx = ((ev.clientX - rect.left) / rect.width) * W;
			let best = pts[0];
			for (const p of pts)
				if (Math.abs(x(p.pos) - mx) < Math.abs(x(best.pos) - mx))
					best = p;
			const bx = x(best.pos);
			cursor.setAttribute("x1", bx);
			cursor.setAttribute("x2", bx);
			dotL.setAttribute("cx", bx);
			dotL.setAttribute("cy", y(best.logical));
			dotP.setAttribute("cx", bx);
			dotP.setAttribute("cy", y(best.physical));
			for (const el of [cursor, dotL, dotP])
				el.setAttribute("visibility", "visible");
			showTip(ev, [h("b", { text: new Date(best.t).toLocaleString() }),
				     h("br"), h("span", { class: "muted", text: best.label + ": +" + fmtBytes(best.addL) +
						      " logical, +" + fmtBytes(best.addP) + " physical" }),
				     h("br"), "logical " + fmtBytes(best.logical),
				     h("br"), "physical " + fmtBytes(best.physical) + " (" +
				     fmtRatio(ratioOf(best.logical, best.physical)) + ")"]);
		});
		svg.addEventListener("mouseleave", () => {
			for (const el of [cursor, dotL, dotP])
				el.setAttribute("visibility", "hidden");
			hideTip();
		});
		box.replaceChildren(h("div", { class: "chart" }, svg, legend));
		box.dataset.points = String(pts.length);
	}

	/* ---- tooltip ------------------------------------------------------ */

	function showTip(ev, content) {
		const t = $("tooltip");
		t.replaceChildren(...[content].flat(2).filter((x) => x !== null && x !== undefined));
		t.hidden = false;
		const r = t.getBoundingClientRect();
		let left = ev.clientX + 14, top = ev.clientY + 14;
		if (left + r.width > window.innerWidth - 8)
			left = ev.clientX - r.width - 14;
		if (top + r.height > window.innerHeight - 8)
			top = ev.clientY - r.height - 14;
		t.style.left = left + "px";
		t.style.top = top + "px";
	}

	function hideTip() {
		$("tooltip").hidden = true;
	}

	function tip(el, content) {
		el.addEventListener("mousemove", (ev) => showTip(ev, content()));
		el.addEventListener("mouseleave", hideTip);
	}

	/* ---- status and refresh ------------------------------------------- */

	function setStatus(kind, text) {
		const st = $("status");
		st.dataset.state = kind;
		st.textContent = text;
	}

	function notice(text) {
		const n = $("notice");
		n.textContent = text || "";
		n.hidden = !text;
	}

	function render() {
		const m = state.stats;
		if (!m)
			return;
		hideTip();	/* what it pointed at is redrawn */
		renderTotals(m);
		renderStages(m);
		renderRepos(m);
		renderFamilies(m);
		renderHistory();
	}

	async function refresh() {
		if (state.busy) {
			state.again = true;	/* e.g. a new token: once this one ends */
			return;
		}
		state.busy = true;
		state.again = false;
		try {
			const epoch = state.epoch;
			const [stats] = await Promise.all([getJSON("/api/stats"), loadHistory()]);
			if (epoch !== state.epoch)
				return;	/* the token changed meanwhile: `again` reads anew */
			state.stats = normalize(stats);
			render();
			notice("");
			setStatus("ok", "updated " + new Date().toLocaleTimeString());
			$("updated").textContent = "store generation " + state.stats.generation +
				(state.stats.computedAt ? ", computed " + new Date(state.stats.computedAt).toLocaleString() : "");
			document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
		} catch (e) {
			if (e instanceof HttpError && e.status === 401)
				notice("The server refused the token: press Token to change or forget it.");
			else
				notice("Cannot read the stats: " + e.message);
			setStatus("error", e instanceof HttpError ? "error " + e.status : "offline");
		} finally {
			state.busy = false;
			if (state.again)
				refresh();
		}
	}

	/* Another token sees other repos: read everything again. */
	function tokenChanged(t) {
		setToken(t);
		state.epoch++;
		state.history = [];
		state.historyLast = 0;
		state.familyDetail.clear();
		refresh();
	}

	function setupToken() {
		const form = $("token-form"), input = $("token-input");
		$("token-toggle").addEventListener("click", () => {
			form.hidden = !form.hidden;
			if (!form.hidden) {
				input.value = token();
				input.focus();
			}
		});
		form.addEventListener("submit", (e) => {
			e.preventDefault();
			form.hidden = true;
			tokenChanged(input.value.trim());
		});
		$("token-clear").addEventListener("click", () => {
			input.value = "";
			form.hidden = true;
			tokenChanged("");
		});
	}

	function start() {
		tokenFromFragment();
		setupToken();
		setupSort();
		let resizeTimer = 0;
		window.addEventListener("resize", () => {
			clearTimeout(resizeTimer);
			resizeTimer = setTimeout(renderHistory, 150);
		});
		refresh();
		/* a hidden tab does not poll; it catches up when shown */
		setInterval(() => document.hidden || refresh(), REFRESH_MS);
		document.addEventListener("visibilitychange", () => document.hidden || refresh());
	}

	if (document.readyState === "loading")
		document.addEventListener("DOMContentLoaded", start);
	else
		start();
})();
