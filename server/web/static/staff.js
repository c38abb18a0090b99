// The staff app (/): sign-in, the live team dashboard, hubs with their spaces and members, the
// team's contacts, and the moderator console (live report queue, remove/restore, warn, soft-ban,
// ban, pin/lock, audit log). Only the public REST API (docs/api.md) and the team socket
// (docs/realtime.md) are used.

import { Api, ApiError, doc, query } from "./api.js";
import { $, announce, errorText, field, fill, focusHeading, form, h, time } from "./dom.js";
import { HubwireRealtime } from "./hubwire-realtime.js";

const main = $("#main");
const nav = $("#nav");
const REFRESH_KEY = "hubwire.staff.refresh";
const TEAM_KEY = "hubwire.staff.team";
const FEED_MAX = 50;
const COUNTERS = [["team_contacts", "Contacts"], ["hub_members", "Hub members"], ["hubs", "Hubs"], ["open_reports", "Open reports"], ["orders_paid", "Orders paid"]];

const S = {
  access: null,
  accessExp: 0,
  user: null,
  teams: [],
  team: null,
  hubs: new Map(),
  counters: null,
  countersSeq: 0,
  feed: [],
  rt: null,
  view: null,
  emails: new Map(), // `${hub}:${contact}` -> email
};

// ---- tokens: the refresh token in localStorage (rotated on use, shared by this browser's tabs
// under a lock), the access token in memory only -----------------------------------------------------

let refreshing = null;

async function token() {
  if (S.access && Date.now() < S.accessExp - 60_000) return S.access;
  if (!localStorage.getItem(REFRESH_KEY)) return null;
  await refresh();
  return S.access;
}

function refresh() {
  if (!refreshing) {
    const run = async () => {
      const current = localStorage.getItem(REFRESH_KEY);
      if (!current) throw new Error("signed out");
      const r = await api.plain("POST", "/api/v1/auth/refresh", { refresh_token: current });
      signedIn(r);
    };
    refreshing = (navigator.locks ? navigator.locks.request("hubwire-staff-refresh", run) : run())
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

function signedIn(r) {
  S.access = r.access_token;
  S.accessExp = Date.parse(r.expires_at);
  localStorage.setItem(REFRESH_KEY, r.refresh_token);
}

const api = new Api({
  token,
  async onUnauthorized() {
    try { S.accessExp = 0; await refresh(); return true; } catch (_) { signOut("Your session ended. Sign in again."); return false; }
  },
});
const T = (path = "") => `/api/v1/teams/${S.team.team_id}${path}`;
const attrs = (r) => ({ id: r.id, ...r.attributes });

// ---- boot, sign-in, sign-out -----------------------------------------------------------------------------

async function boot() {
  if (!localStorage.getItem(REFRESH_KEY)) { showLogin(); return; }
  try {
    await token();
  } catch (_) {
    localStorage.removeItem(REFRESH_KEY);
    showLogin("Your session ended. Sign in again.");
    return;
  }
  await start();
}

function showLogin(message, register = false) {
  nav.hidden = true;
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", required: true, minlength: 10,
    autocomplete: register ? "new-password" : "current-password" });
  fill(main,
    h("h1", { text: register ? "Create a staff account" : "Staff sign-in" }),
    message ? h("p", { class: "notice", role: "alert", text: message }) : null,
    form({ class: "card", "aria-label": register ? "Register" : "Sign in" }, [field("Email", email), field("Password", password),
      h("button", { type: "submit", text: register ? "Create account" : "Sign in" })], async () => {
      const r = await api.plain("POST", register ? "/api/v1/auth/register" : "/api/v1/auth/login",
        { email: email.value.trim(), password: password.value });
      signedIn(r);
      await start();
    }),
    h("p", {}, h("button", { type: "button", class: "link", text: register ? "I have an account: sign in" : "No account yet? Create one",
      on: { click: () => showLogin(null, !register) } })),
    h("p", { class: "hint" }, "Members sign in from their hub's own page, ", h("code", { text: "/hubs/<hub slug>" }), "."));
  email.focus();
}

async function signOut(message) {
  try { if (S.access) await api.request("POST", "/api/v1/auth/logout", { body: { refresh_token: localStorage.getItem(REFRESH_KEY) }, plain: true }); } catch (_) { /* gone anyway */ }
  localStorage.removeItem(REFRESH_KEY);
  S.access = null;
  if (S.rt) S.rt.close();
  S.rt = null;
  window.removeEventListener("hashchange", route);
  showLogin(message);
}

async function start() {
  const me = await api.get("/api/v1/auth/me");
  S.user = me.user;
  S.teams = me.teams;
  const saved = localStorage.getItem(TEAM_KEY);
  S.team = S.teams.find((t) => t.team_id === saved) || S.teams[0];
  if (!S.team) { fill(main, h("p", { text: "You are not in any team." })); return; }
  await enterTeam();
  window.addEventListener("hashchange", route);
  route();
}

async function enterTeam() {
  localStorage.setItem(TEAM_KEY, S.team.team_id);
  if (S.rt) S.rt.close();
  S.feed = [];
  await loadHubs();
  const dash = attrs((await api.get(T("/dashboard"))).data);
  S.counters = dash;
  S.countersSeq = dash.seq;
  S.rt = new HubwireRealtime({ url: T("/ws"), token });
  S.rt.on("state", (state) => {
    document.body.dataset.realtime = state;
    $("#live").textContent = state === "open" ? "● Live" : state === "reconnecting" ? "Reconnecting…" : "";
  });
  S.rt.on("closed", ({ final }) => { if (final) signOut("Your session ended. Sign in again."); });
  // from a little before the counters' position: recent activity for the feed, then live
  S.rt.subscribe(dash.channel, { onEvent: teamEvent, onReset: () => reloadCounters().catch(() => {}) },
    { since: Math.max(0, dash.seq - 20), epoch: dash.epoch });
  S.rt.connect();
  showNav();
}

async function reloadCounters() {
  // the channel was reset (history lost, a new epoch): counters and their position start over
  S.countersSeq = -1;
  const dash = attrs((await api.get(T("/dashboard"))).data);
  S.counters = dash;
  S.countersSeq = dash.epoch === S.rt.position(dash.channel)?.epoch ? dash.seq : -1;
  renderCounters();
}

async function loadHubs() {
  const hubs = await api.all(T("/hubs?page%5Bsize%5D=100"), 500);
  S.hubs = new Map(hubs.map((r) => [r.id, attrs(r)]));
}

function showNav() {
  const select = S.teams.length > 1 ? h("select", { "aria-label": "Team", on: {
    change: async (e) => { S.team = S.teams.find((t) => t.team_id === e.target.value); await enterTeam(); route(); },
  } }, S.teams.map((t) => h("option", { value: t.team_id, text: t.name, selected: t.team_id === S.team.team_id }))) : h("span", { class: "team", text: S.team.name });
  fill(nav,
    h("a", { href: "#/", text: "Dashboard" }),
    h("a", { href: "#/hubs", text: "Hubs" }),
    h("a", { href: "#/contacts", text: "Contacts" }),
    h("a", { href: "#/moderation", text: "Moderation" }),
    select,
    h("button", { type: "button", class: "link", text: "Sign out", on: { click: () => signOut("You signed out.") } }));
  nav.hidden = false;
}

function route() {
  if (!S.team) return;
  const [section, id] = location.hash.replace(/^#\/?/, "").split("/");
  const v = { name: section || "dashboard", id, alive: () => S.view === v };
  S.view = v;
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${section || ""}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const views = { "": dashboardView, hubs: id ? hubView : hubsView, contacts: contactsView, moderation: moderationView };
  (views[section || ""] || dashboardView)(v, id).catch((err) => {
    if (v.alive()) fill(main, h("p", { class: "error", role: "alert", text: errorText(err) }));
  });
}

// ---- the team channel ---------------------------------------------------------------------------------

function teamEvent(ev) {
  if (ev.seq > S.countersSeq) {
    S.countersSeq = ev.seq;
    const c = S.counters;
    const d = ev.data;
    if (ev.event === "contact.signed_up") c.team_contacts += 1;
    else if (ev.event === "member.joined") c.hub_members += 1;
    else if (ev.event === "member.reported" && d.report_count === 1) c.open_reports += 1;
    else if (ev.event === "moderation.action" && d.report_id) c.open_reports = Math.max(0, c.open_reports - 1);
    else if (ev.event === "order.paid") { c.orders_paid += 1; addRevenue(c, d.currency, d.amount); }
    else if (ev.event === "order.refunded" || ev.event === "payment.refunded") addRevenue(c, d.currency, -d.amount);
    else if (ev.event === "payment.succeeded") addRevenue(c, d.currency, d.amount);  // a renewal
    renderCounters();
  }
  S.feed.unshift(ev);
  S.feed.length = Math.min(S.feed.length, FEED_MAX);
  const list = $("#feed");
  if (list) { list.querySelector(".empty")?.remove(); list.prepend(feedItem(ev)); }
  if (S.view && S.view.onTeamEvent) S.view.onTeamEvent(ev);
}

function addRevenue(c, currency, amount) {
  c.revenue = c.revenue || {};
  c.revenue[currency] = (c.revenue[currency] || 0) + amount;
}

function money(amount, currency) {
  return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

function hubName(id) {
  const hub = S.hubs.get(id);
  return hub ? hub.name : "a hub";
}

/** The email of a hub member, as an element filled in when known. */
function memberEmail(hubId, contactId) {
  const el = h("span", { class: "who", text: "a member" });
  const key = `${hubId}:${contactId}`;
  const put = (email) => { el.textContent = email; };
  if (S.emails.has(key)) put(S.emails.get(key));
  else api.get(T(`/hubs/${hubId}/memberships/${contactId}`)).then((r) => { S.emails.set(key, r.data.attributes.email); put(r.data.attributes.email); }).catch(() => {});
  return el;
}

function feedItem(ev) {
  const d = ev.data;
  let what;
  switch (ev.event) {
    case "contact.signed_up": what = ["✨ ", h("strong", { text: d.email }), " signed up", d.source ? ` (${d.source})` : ""]; break;
    case "member.joined": what = ["👋 ", memberEmail(d.hub_id, d.contact_id), ` joined ${hubName(d.hub_id)}`]; break;
    case "member.reported": what = [`🚩 A ${d.target_type} was reported in ${hubName(d.hub_id)}: “${d.reason}”`]; break;
    case "moderation.action": what = [`🛡 ${d.action.replace("_", "-")} on a ${d.target_type} in ${hubName(d.hub_id)}`, d.reason ? `: ${d.reason}` : ""]; break;
    case "member.banned": case "member.soft_banned": case "member.unbanned": case "member.warned":
      what = ["⛔ ", memberEmail(d.hub_id, d.contact_id), ` ${ev.event.slice(7).replace("_", "-")} in ${hubName(d.hub_id)}`, d.reason ? `: ${d.reason}` : ""]; break;
    case "member.role_changed": what = ["🎖 ", memberEmail(d.hub_id, d.contact_id), ` is now ${d.role} in ${hubName(d.hub_id)}`]; break;
    case "order.created": what = [`🛒 An order of ${money(d.amount_total, d.currency)} in ${hubName(d.hub_id)}`]; break;
    case "order.paid": what = ["💳 ", h("strong", { text: money(d.amount, d.currency) }), ` paid in ${hubName(d.hub_id)}`]; break;
    case "order.refunded": what = [`↩ ${money(d.amount, d.currency)} refunded in ${hubName(d.hub_id)}`]; break;
    case "payment.succeeded": what = ["🔁 ", h("strong", { text: money(d.amount, d.currency) }), ` renewal paid in ${hubName(d.hub_id)}`]; break;
    case "payment.refunded": what = [`↩ ${money(d.amount, d.currency)} of a renewal refunded in ${hubName(d.hub_id)}`]; break;
    default: what = ["• ", ev.event];
  }
  return h("li", { class: `feed-item ${ev.event.replace(".", "-")}` }, h("span", { class: "what" }, what), " ", time(ev.at));
}

// ---- dashboard ---------------------------------------------------------------------------------------------

async function dashboardView() {
  fill(main, h("h1", { text: `${S.team.name}: dashboard` }),
    h("div", { class: "counters", id: "counters" }),
    h("h2", { text: "Live activity" }),
    h("ol", { class: "feed", id: "feed", "aria-live": "polite", "aria-label": "Live activity" },
      S.feed.length ? S.feed.map(feedItem) : h("li", { class: "empty", text: "Signups, joins, reports and orders appear here as they happen." })));
  renderCounters();
  focusHeading(main);
}

function renderCounters() {
  const box = $("#counters");
  if (!box || !S.counters) return;
  const revenue = Object.entries(S.counters.revenue || {}).filter(([, amount]) => amount).map(([cur, amount]) => money(amount, cur)).join(" · ") || "0";
  fill(box, COUNTERS.map(([key, label]) => h("div", { class: "counter", id: `counter-${key}` },
    h("span", { class: "value", text: String(S.counters[key]) }), h("span", { class: "label", text: label }))),
  h("div", { class: "counter", id: "counter-revenue" }, h("span", { class: "value", text: revenue }),
    h("span", { class: "label", text: "Revenue (net)" })));
}

// ---- hubs ----------------------------------------------------------------------------------------------------

async function hubsView(v) {
  await loadHubs();
  if (!v.alive()) return;
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const slug = h("input", { name: "slug", pattern: "[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", maxlength: 100 });
  const color = h("input", { type: "color", name: "color", value: "#4f46e5" });
  fill(main, h("h1", { text: "Hubs" }),
    h("ul", { class: "list" }, [...S.hubs.values()].map((hub) => h("li", {},
      h("a", { href: `#/hubs/${hub.id}`, text: hub.name }), " ",
      h("a", { class: "hint", href: `/hubs/${hub.slug}`, target: "_blank", rel: "noopener", text: `/hubs/${hub.slug} ↗` })))),
    h("details", { class: "card", open: S.hubs.size === 0 }, h("summary", { text: "Create a hub" }),
      form({ "aria-label": "Create a hub" }, [field("Name", name), field("Slug", slug, "Lowercase letters, digits and hyphens; made from the name when empty."),
        field("Brand color", color), h("button", { type: "submit", text: "Create hub" })], async () => {
        const a = { name: name.value.trim(), branding: { colors: { primary: color.value } } };
        if (slug.value.trim()) a.slug = slug.value.trim();
        const r = await api.post(T("/hubs"), doc("hubs", a));
        location.hash = `#/hubs/${r.data.id}`;
      })));
  focusHeading(main);
}

async function hubView(v, hubId) {
  const [hubDoc, spaces, members] = await Promise.all([
    api.get(T(`/hubs/${hubId}`)), api.all(T(`/hubs/${hubId}/spaces`)), api.all(T(`/hubs/${hubId}/memberships?page%5Bsize%5D=100`), 300)]);
  if (!v.alive()) return;
  const hub = attrs(hubDoc.data);
  S.hubs.set(hub.id, hub);
  const spaceName = h("input", { name: "name", required: true, maxlength: 200 });
  const access = h("select", { name: "access_level" }, [["open", "Open: every member"], ["private", "Private: members you add"], ["secret", "Secret: invisible to others"]]
    .map(([value, text]) => h("option", { value, text })));
  const email = h("input", { type: "email", name: "email", required: true });
  const role = h("select", { name: "role" }, ["member", "moderator", "admin"].map((r) => h("option", { value: r, text: r })));
  const invite = h("input", { type: "checkbox", name: "invite", checked: true });
  const memberList = h("ul", { class: "list members" }, members.map((m) => memberRow(hub, attrs(m))));
  fill(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/hubs", text: "← Hubs" })),
    h("h1", { text: hub.name }),
    h("p", {}, "Member app: ", h("a", { href: `/hubs/${hub.slug}`, target: "_blank", rel: "noopener", text: `/hubs/${hub.slug}` }),
      " · ", h("a", { href: `#/moderation/${hub.id}`, text: "Moderation" })),
    h("h2", { text: "Spaces" }),
    h("ul", { class: "list", id: "spaces" }, spaces.map((s) => spaceRow(attrs(s)))),
    h("details", { class: "card" }, h("summary", { text: "Create a space" }),
      form({ "aria-label": "Create a space" }, [field("Name", spaceName), field("Who can enter", access), h("button", { type: "submit", text: "Create space" })], async (f) => {
        const r = await api.post(T(`/hubs/${hubId}/spaces`), doc("spaces", { name: spaceName.value.trim(), access_level: access.value }));
        $("#spaces").append(spaceRow(attrs(r.data)));
        f.reset();
        announce("Space created.");
      })),
    h("h2", { text: "Members" }),
    h("details", { class: "card" }, h("summary", { text: "Add or invite a member" }),
      form({ "aria-label": "Add a member" }, [field("Email", email), field("Role", role),
        h("label", { class: "check" }, invite, " Email them a sign-in link"), h("button", { type: "submit", text: "Add member" })], async (f) => {
        const address = email.value.trim();
        const sendLink = invite.checked;
        const r = await api.post(T(`/hubs/${hubId}/memberships`), doc("hub_memberships", { email: address, role: role.value }));
        if (sendLink) await api.plain("POST", "/api/v1/contact-auth/register", { email: address, hub_id: hubId });
        memberList.querySelector(`[data-contact="${r.data.attributes.contact_id}"]`)?.remove();
        memberList.prepend(memberRow(hub, attrs(r.data)));
        f.reset();
        invite.checked = true;
        announce(sendLink ? `${address} added; a sign-in link is on its way.` : `${address} added.`);
      })),
    memberList);
  focusHeading(main);
}

function spaceRow(s) {
  return h("li", {}, h("strong", { text: s.name }), " ", h("span", { class: "tag", text: s.access_level }),
    s.posting_permission === "moderators" ? h("span", { class: "tag", text: "moderators post" }) : null);
}

function memberRow(hub, m) {
  const li = h("li", { class: "member", dataset: { contact: m.contact_id } });
  const render = () => fill(li,
    h("span", { class: "who", text: m.email }), " ",
    h("span", { class: "tag", text: m.role }),
    m.status !== "active" ? h("span", { class: `tag status-${m.status}`, text: m.status.replace("_", "-") }) : null,
    m.status_reason ? h("span", { class: "hint", text: ` “${m.status_reason}”` }) : null,
    moderationButtons(hub.id, m.contact_id, m.status, (updated) => { m = updated; render(); }));
  render();
  return li;
}

/** Warn / soft-ban / ban / unban with a reason, on a hub member (the membership routes). */
function moderationButtons(hubId, contactId, status, done) {
  const box = h("span", { class: "mod" });
  const ask = (action, label) => h("button", {
    type: "button", class: `small${action === "ban" ? " danger" : ""}`, text: label,
    on: {
      click: () => {
        box.querySelector("form")?.remove();
        const reason = h("input", { name: "reason", required: true, maxlength: 1000 });
        const f = form({ class: "inline", "aria-label": `${label}: reason` }, [field("Reason", reason), h("button", { type: "submit", text: label })], async () => {
          const r = await api.post(T(`/hubs/${hubId}/memberships/${contactId}/${action}`), doc("membership_actions", { reason: reason.value.trim() }));
          done(attrs(r.data));
          announce(`${label}: done.`);
        });
        box.append(f);
        reason.focus();
      },
    },
  });
  if (status === "banned" || status === "soft_banned") box.append(ask("unban", "Lift"));
  box.append(ask("warn", "Warn"));
  if (status !== "soft_banned" && status !== "banned") box.append(ask("soft-ban", "Soft-ban"));
  if (status !== "banned") box.append(ask("ban", "Ban"));
  return box;
}

// ---- contacts ---------------------------------------------------------------------------------------------------

async function contactsView(v) {
  const q = h("input", { type: "search", name: "q", maxlength: 200 });
  const list = h("table", { class: "table" });
  const load = async () => {
    const r = await api.get(T(`/contacts${query({ "filter[q]": q.value.trim(), "page[size]": 100 })}`));
    if (!v.alive()) return;
    fill(list, h("thead", {}, h("tr", {}, ["Email", "Name", "Stage", "Since"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, r.data.map((c) => {
        const a = c.attributes;
        return h("tr", {}, h("td", { text: a.email }), h("td", { text: [a.first_name, a.last_name].filter(Boolean).join(" ") }),
          h("td", { text: a.lifecycle_stage }), h("td", {}, time(a.created_at)));
      })));
  };
  fill(main, h("h1", { text: "Contacts" }),
    form({ role: "search", "aria-label": "Search contacts" }, [field("Search by email or name", q), h("button", { type: "submit", text: "Search" })], load),
    h("div", { class: "scroll" }, list));
  await load();
  focusHeading(main);
}

// ---- the moderator console -----------------------------------------------------------------------------------------

async function moderationView(v, hubId) {
  if (!hubId) {
    await loadHubs();
    if (!v.alive()) return;
    if (S.hubs.size === 1) { location.replace(`#/moderation/${[...S.hubs.keys()][0]}`); return; }
    fill(main, h("h1", { text: "Moderation" }), h("p", { text: "Choose a hub:" }),
      h("ul", { class: "list" }, [...S.hubs.values()].map((hub) => h("li", {}, h("a", { href: `#/moderation/${hub.id}`, text: hub.name })))));
    focusHeading(main);
    return;
  }
  const M = (path) => T(`/hubs/${hubId}/moderation${path}`);
  const queue = h("ol", { class: "queue", id: "queue", "aria-live": "polite", "aria-label": "Open reports" });
  const discussions = h("ul", { class: "list", id: "mod-discussions" });
  const audit = h("ol", { class: "audit", id: "audit" });
  const cards = new Map();

  const upsertReport = async (report) => {
    const r = attrs(report);
    if (r.status !== "open") { cards.get(r.id)?.remove(); cards.delete(r.id); emptyQueue(); return; }
    const card = reportCard(r, M, (resolved) => { cards.get(resolved.id)?.remove(); cards.delete(resolved.id); emptyQueue(); });
    const old = cards.get(r.id);
    if (old) old.replaceWith(card); else queue.append(card);
    queue.querySelector(".empty")?.remove();
    cards.set(r.id, card);
  };
  const emptyQueue = () => { if (!cards.size && !queue.querySelector(".empty")) queue.append(h("li", { class: "empty", text: "Nothing to review. Reports appear here as members send them." })); };
  const loadDiscussions = async () => {
    const list = await api.get(M("/discussions?page%5Bsize%5D=30"));
    if (v.alive()) fill(discussions, list.data.length ? list.data.map((d) => discussionRow(attrs(d), M, loadDiscussions)) : h("li", { class: "empty", text: "No discussions yet." }));
  };
  const loadAudit = async () => {
    const list = await api.get(M("/audit-log?page%5Bsize%5D=30"));
    if (v.alive()) fill(audit, list.data.length ? list.data.map((a) => auditRow(hubId, attrs(a))) : h("li", { class: "empty", text: "No moderation yet." }));
  };
  v.onTeamEvent = (ev) => {
    if (ev.data.hub_id !== hubId) return;
    if (ev.event === "member.reported") api.get(M(`/reports/${ev.data.report_id}`)).then((r) => upsertReport(r.data)).catch(() => {});
    if (ev.event === "moderation.action") {
      if (ev.data.report_id) { cards.get(ev.data.report_id)?.remove(); cards.delete(ev.data.report_id); emptyQueue(); }
      if (ev.data.target_type === "discussion") loadDiscussions();
      loadAudit();
    }
    if (ev.event.startsWith("member.") && ev.event !== "member.reported" && ev.event !== "member.joined") loadAudit();
  };
  const hub = S.hubs.get(hubId) || attrs((await api.get(T(`/hubs/${hubId}`))).data);
  const reports = await api.all(M("/reports?filter%5Bstatus%5D=open&page%5Bsize%5D=100"), 300);
  if (!v.alive()) return;
  fill(main,
    h("h1", { text: `Moderation: ${hub.name}` }),
    h("h2", { text: "Report queue" }), queue,
    h("h2", { text: "Discussions" }), discussions,
    h("h2", { text: "Audit log" }), audit);
  for (const r of reports) await upsertReport(r);
  emptyQueue();
  await Promise.all([loadDiscussions(), loadAudit()]);
  focusHeading(main);
}

function reportCard(r, M, resolved) {
  const hubId = r.hub_id;
  const content = h("div", { class: "reported" }, h("p", { class: "hint", text: "Loading what was reported…" }));
  const itemPath = { discussion: "discussions", comment: "comments", message: "messages" }[r.target_type];
  if (itemPath) {
    api.get(M(`/${itemPath}/${r.target_id}`)).then((res) => {
      const it = res.data.attributes;
      fill(content, it.title ? h("strong", { text: it.title }) : null, h("p", { class: "pre", text: it.body }),
        it.removed_at ? h("p", { class: "tag", text: "already removed" }) : null);
    }).catch(() => fill(content, h("p", { class: "hint", text: "This item is gone." })));
  } else {
    fill(content, h("p", {}, "The member ", memberEmail(hubId, r.target_id)));
  }
  const reason = h("input", { name: "reason", maxlength: 1000 });
  const act = (action, label, danger) => h("button", {
    type: "button", class: `small${danger ? " danger" : ""}`, text: label, dataset: { action },
    on: {
      click: async (e) => {
        e.target.disabled = true;
        try {
          const res = await api.post(M(`/reports/${r.id}/resolve`), doc("report_resolutions", { action, reason: reason.value.trim() || null }));
          resolved(attrs(res.data));
          announce(`Report resolved: ${label}.`);
        } catch (err) {
          e.target.disabled = false;
          status.textContent = errorText(err);
        }
      },
    },
  });
  const status = h("p", { class: "form-error", role: "alert" });
  return h("li", { class: "card report-entry", dataset: { report: r.id, target: r.target_id } },
    h("p", { class: "meta" }, h("span", { class: "tag", text: r.target_type }), ` reported ${r.report_count}×, last `, time(r.last_reported_at),
      r.target_author_contact_id ? [" · by ", memberEmail(hubId, r.target_author_contact_id)] : null),
    content,
    h("ul", { class: "reasons" }, r.reasons.map((x) => h("li", {}, "“", x.reason, "” ", h("span", { class: "hint" }, "— ", memberEmail(hubId, x.reporter_contact_id))))),
    field("Reason (shown in the audit log, and to a warned or banned member)", reason),
    h("div", { class: "actions" },
      act("dismiss", "Dismiss"),
      r.target_type !== "member" ? act("remove", "Remove", true) : null,
      act("warn", "Warn author"), act("soft_ban", "Soft-ban author"), act("ban", "Ban author", true)),
    status);
}

function discussionRow(d, M, reload) {
  const act = (method, path, label, body) => h("button", {
    type: "button", class: "small", text: label,
    on: { click: async () => { await api.request(method, M(`/discussions/${d.id}/${path}`), { body }); await reload(); } },
  });
  return h("li", { class: "discussion", dataset: { id: d.id } },
    h("strong", { text: d.title }), " ",
    h("span", { class: "hint" }, `💬 ${d.comment_count} · `, time(d.created_at)),
    d.removed_at ? h("span", { class: "tag status-banned", text: "removed" }) : null,
    d.is_pinned ? h("span", { class: "tag", text: "📌 pinned" }) : null,
    d.is_locked ? h("span", { class: "tag", text: "🔒 locked" }) : null,
    h("span", { class: "mod" },
      d.removed_at ? act("POST", "restore", "Restore") : act("POST", "remove", "Remove", doc("removals", {})),
      act(d.is_pinned ? "DELETE" : "POST", "pin", d.is_pinned ? "Unpin" : "Pin"),
      act(d.is_locked ? "DELETE" : "POST", "lock", d.is_locked ? "Unlock" : "Lock")));
}

function auditRow(hubId, a) {
  const target = a.target_type === "member" ? ["member ", memberEmail(hubId, a.target_id)] : [`${a.target_type}`];
  return h("li", { class: "audit-entry" }, time(a.created_at), " ", h("strong", { text: a.action.replace("_", "-") }), " ", target,
    a.reason ? ` — “${a.reason}”` : "", a.expires_at ? [" until ", time(a.expires_at)] : null);
}

// A refused or failed request whose caller did not handle it (a click while offline, a 403):
// say so in the status line. Anything else is a bug and stays an error.
window.addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof ApiError) {
    e.preventDefault();
    announce(errorText(e.reason));
  }
});

boot();
