// The member app of one hub (/hubs/{slug}): sign-in by magic link, spaces, live discussions with
// threaded comments, reactions and typing, direct messages with read receipts, presence, the
// directory and the member's own profile. Everything goes through the public REST API
// (docs/api.md) and the realtime protocol (docs/realtime.md, hubwire-realtime.js).

import { Api, ApiError, doc, query } from "./api.js";
import { $, announce, errorText, field, fill, focusHeading, form, h, safeColor, time, when } from "./dom.js";
import { HubwireRealtime } from "./hubwire-realtime.js";

const main = $("#main");
const nav = $("#nav");
const slug = main.dataset.slug;
const home = `/hubs/${slug}`;
const REACTIONS = ["👍", "❤️", "🎉", "😂"];
const TYPING_MS = 6000;
const MAX_WATCHED_SPACES = 60; // a socket holds at most 100 subscriptions (docs/realtime.md#limits-defaults-hubwire_rt_-environment-variables-override-them)
const MODERATORS = new Set(["moderator", "admin"]);
const LOCK_TEXT = {
  not_a_space_member: "Members of this space only: a moderator can add you.",
  not_in_segment: "Reserved for some members.",
  missing_tag: "Reserved for some members.",
  missing_entitlement: "Included with a membership you do not have yet.",
  policy_not_accepted: "Accept the hub's terms to enter.",
  insufficient_role: "Moderators only.",
  soft_banned: "You can read but not post for now.",
};

const S = {
  hub: null,
  token: null,
  me: null,
  rt: null,
  spaces: new Map(),
  spaceOrder: [],
  spacesLoadedAt: 0,
  conversations: new Map(),
  names: new Map(),
  online: new Set(),
  presenceChanges: null,
  view: null,
  ended: false,
  persistent: new Map(), // channel -> subscription kept for the whole session
};

const api = new Api({
  token: () => S.token,
  onError(err) {
    if (err.status === 403 && err.code === "banned") showBanned(err.meta.reason, err.meta.expires_at);
    else if (err.status === 401 && S.token && S.me) signedOut("Your sign-in has expired. Sign in again.");
  },
});
const H = (path) => `/api/v1/hub/${S.hub.id}${path}`;
const attrs = (resource) => ({ id: resource.id, ...resource.attributes });
const isMe = (contactId) => S.me && contactId === S.me.contact_id;
const isModerator = () => S.me && MODERATORS.has(S.me.role);

// ---- tokens: in this tab's sessionStorage first (two tabs may be two members), else the last
// sign-in of this browser; never in a URL or a cookie ------------------------------------------------

const storageKey = () => `hubwire.member.${S.hub.id}`;

function saveToken(token) {
  S.token = token;
  sessionStorage.setItem(storageKey(), token);
  localStorage.setItem(storageKey(), token);
}

function loadToken() {
  return sessionStorage.getItem(storageKey()) || localStorage.getItem(storageKey());
}

function dropToken() {
  if (S.hub) {
    if (localStorage.getItem(storageKey()) === S.token) localStorage.removeItem(storageKey());
    sessionStorage.removeItem(storageKey());
  }
  S.token = null;
}

// ---- boot -------------------------------------------------------------------------------------------

async function boot() {
  const params = new URLSearchParams(location.search);
  const magic = location.pathname.endsWith("/login") ? params.get("token") : null;
  // The one-time token leaves the address bar (and the history entry) before anything else runs.
  if (location.pathname !== home || location.search) history.replaceState(null, "", home + location.hash);

  let hubs;
  try {
    hubs = (await api.request("GET", `/api/v1/public/hubs${query({ "filter[slug]": slug })}`, { auth: false })).data;
  } catch (err) {
    fill(main, h("p", { class: "error", role: "alert", text: errorText(err) }));
    return;
  }
  if (!hubs.length) {
    fill(main, h("h1", { text: "No hub here" }));
    return;
  }
  if (magic) {
    let login;
    try {
      login = await api.plain("POST", "/api/v1/contact-auth/verify", { token: magic });
    } catch (err) {
      useHub(hubs.length === 1 ? hubs[0] : null, hubs);
      if (!S.hub) return;
      const text = err.code === "banned" ? "You are banned from this hub."
        : err.code === "magic_link_expired" ? "This sign-in link has expired. Ask for a new one below."
          : "This sign-in link was already used or is not valid. Ask for a new one below.";
      showSignIn(text);
      return;
    }
    const hub = hubs.find((x) => x.id === login.hub_id)
      || (await api.request("GET", `/api/v1/public/hubs${query({ "filter[id]": login.hub_id })}`, { auth: false })).data[0];
    useHub(hub, hubs);
    saveToken(login.access_token);
  } else if (hubs.length === 1) {
    useHub(hubs[0], hubs);
  } else {
    const known = hubs.find((x) => sessionStorage.getItem(`hubwire.member.${x.id}`) || localStorage.getItem(`hubwire.member.${x.id}`));
    if (known) useHub(known, hubs);
    else { chooseHub(hubs); return; }
  }
  await start();
}

function chooseHub(hubs) {
  fill(main, h("h1", { text: "Which hub?" }),
    h("ul", { class: "list" }, hubs.map((x) => h("li", {}, h("button", {
      type: "button", text: x.attributes.name, on: { click: () => { useHub(x, hubs); start(); } },
    })))));
}

function useHub(resource, hubs) {
  if (!resource) { chooseHub(hubs); return; }
  S.hub = attrs(resource);
  const branding = S.hub.branding || {};
  const colors = branding.colors || {};
  const root = document.documentElement.style;
  if (safeColor(colors.primary)) root.setProperty("--brand", colors.primary);
  if (safeColor(colors.accent)) root.setProperty("--accent", colors.accent);
  const name = $("#hub-name");
  name.textContent = S.hub.name;
  if (typeof branding.logo_url === "string" && branding.logo_url.startsWith("https://")) {
    name.prepend(h("img", { class: "logo", src: branding.logo_url, alt: "" }));
  }
  document.title = S.hub.name;
}

async function start() {
  S.token = loadToken();
  if (!S.token) { showSignIn(); return; }
  try {
    S.me = await loadMe();
  } catch (err) {
    if (S.ended) return;
    if (err.status === 401 || err.status === 404) { dropToken(); showSignIn("Your sign-in has expired. Sign in again."); return; }
    if (err.code === "not_a_member") { dropToken(); showSignIn("You are no longer a member of this hub."); return; }
    fill(main, h("p", { class: "error", role: "alert", text: errorText(err) }));
    return;
  }
  if (pendingPolicies().length) { showPolicies(); return; }
  S.names.set(S.me.contact_id, S.me.profile.display_name || "You");
  startRealtime();
  showNav();
  await Promise.all([loadSpaces(), loadConversations(), loadDirectory(), loadPresence()]).catch(() => {});
  if (S.ended) return;
  window.addEventListener("hashchange", route);
  route();
}

async function loadMe() {
  return attrs((await api.get(H("/me"))).data);
}

function pendingPolicies() {
  return (S.me.policies || []).filter((p) => p.require_acceptance && !p.accepted_current);
}

// ---- sign-in, policies, ban -------------------------------------------------------------------------

function showSignIn(message) {
  nav.hidden = true;
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email" });
  const done = h("div", { role: "status", "aria-live": "polite" });
  fill(main,
    h("h1", { text: `Sign in to ${S.hub.name}` }),
    message ? h("p", { class: "notice", role: "alert", text: message }) : null,
    h("p", { text: "We email you a link that signs you in. No password." }),
    form({ class: "card", "aria-label": "Sign in" }, [field("Email", email), h("button", { type: "submit", text: "Email me a sign-in link" })],
      async () => {
        await api.plain("POST", "/api/v1/contact-auth/register", { email: email.value.trim(), hub_id: S.hub.id });
        fill(done, h("p", { class: "success", text: `Check ${email.value.trim()} for your sign-in link. It works once, within 15 minutes.` }));
      }),
    done);
  email.focus();
}

function showPolicies() {
  const items = pendingPolicies();
  fill(main, h("h1", { text: "Before you start" }), items.map((p) => {
    const name = p.policy_type === "tos" ? "Terms of service" : "Privacy policy";
    return h("section", { class: "card" }, h("h2", { text: name }), h("p", { class: "pre", text: p.content }),
      form({}, [h("button", { type: "submit", text: `I accept the ${name.toLowerCase()}` })], async () => {
        await api.post(H("/me/accept-policies"), doc("policy_acceptances", { policy_type: p.policy_type, version: p.version }));
        await start();
      }));
  }));
  focusHeading(main);
}

function showBanned(reason, expiresAt) {
  if (S.ended) return;
  S.ended = true;
  if (S.rt) S.rt.close();
  dropToken();
  nav.hidden = true;
  window.removeEventListener("hashchange", route);
  fill(main, h("section", { class: "card banned", role: "alert" },
    h("h1", { text: `You were banned from ${S.hub.name}` }),
    h("p", { text: reason ? `Reason given by the moderators: ${reason}` : "The moderators did not give a reason." }),
    expiresAt ? h("p", {}, "The ban ends ", time(expiresAt), ".") : null,
    h("p", { text: "You have been signed out." })));
  announce("You were banned and signed out.");
}

function signedOut(message) {
  if (S.ended) return;
  S.ended = true;
  if (S.rt) S.rt.close();
  dropToken();
  nav.hidden = true;
  window.removeEventListener("hashchange", route);
  S.me = null;
  S.ended = false;
  showSignIn(message);
}

// ---- navigation -------------------------------------------------------------------------------------

const badge = h("span", { class: "badge", id: "dm-badge", hidden: true });
const onlineCount = h("span", { class: "online-count", id: "online-count" });

function showNav() {
  fill(nav,
    h("a", { href: "#/", text: "Spaces" }),
    h("a", { href: "#/messages", id: "nav-messages" }, "Messages ", badge),
    h("a", { href: "#/members", text: "Members" }),
    h("a", { href: "#/profile", text: "Profile" }),
    onlineCount,
    h("button", { type: "button", class: "link", text: "Sign out", on: { click: () => signedOut("You signed out.") } }));
  nav.hidden = false;
  renderBadge();
  renderOnline();
}

function renderBadge() {
  let unread = 0;
  for (const c of S.conversations.values()) unread += c.unread_count || 0;
  badge.textContent = unread ? String(unread) : "";
  badge.hidden = !unread;
  badge.setAttribute("aria-label", `${unread} unread`);
}

function renderOnline() {
  onlineCount.textContent = `● ${S.online.size} online`;
}

function route() {
  if (!S.me || S.ended) return;
  if (S.view) S.view.dispose();
  const [section, id] = location.hash.replace(/^#\/?/, "").split("/");
  const v = newView();
  S.view = v;
  for (const a of nav.querySelectorAll("a")) {
    const here = a.getAttribute("href") === `#/${section === "spaces" || section === "discussions" ? "" : section || ""}`;
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const views = { "": spacesView, spaces: id ? spaceView : spacesView, discussions: discussionView, messages: id ? conversationView : messagesView,
    members: id ? memberView : membersView, profile: profileView };
  (views[section || ""] || spacesView)(v, id).catch((err) => {
    if (!v.alive()) return;
    v.failed = true; // loaded again once the connection is back (below)
    fill(main, h("p", { class: "error", role: "alert", text: errorText(err) }));
  });
}

function newView() {
  const v = {
    subs: [], timers: [], name: null, id: null, alive: () => S.view === v && !S.ended,
    dispose() { v.subs.forEach((s) => s.unsubscribe()); v.timers.forEach(clearInterval); v.subs = []; },
  };
  return v;
}

/** Subscribe for this view; resolves once the server confirmed (or refused) the subscription. */
function viewSubscribe(v, channel, handlers) {
  return new Promise((resolve) => {
    const sub = S.rt.subscribe(channel, {
      ...handlers,
      onSubscribed(f) { resolve(f); if (handlers.onSubscribed) handlers.onSubscribed(f); },
      onError(f) { resolve(f); if (handlers.onError) handlers.onError(f); },
    });
    v.subs.push(sub);
    setTimeout(resolve, 3000); // not connected yet: load anyway; live events join when it is
  });
}

// ---- realtime ---------------------------------------------------------------------------------------

function startRealtime() {
  S.rt = new HubwireRealtime({ url: H("/ws"), sseUrl: H("/events"), token: () => S.token });
  S.rt.on("state", (state) => {
    if (state === "open" && S.view && S.view.failed) route(); // a view that could not load while offline
    document.body.dataset.realtime = state;
    document.body.dataset.transport = S.rt.mode || "";
    const live = $("#live");
    live.textContent = state === "open" ? "" : state === "reconnecting" ? "Reconnecting…" : state === "connecting" ? "Connecting…" : "";
  });
  S.rt.on("closed", async ({ code, final }) => {
    if (!final || S.ended) return;
    if (code === 4403) {
      try { await loadMe(); } catch (_) { /* onError shows the ban */ }
      if (!S.ended) showBanned(null, null);
    } else if (code === 4401) signedOut("Your sign-in has expired. Sign in again.");
  });
  keep(`hub:${S.hub.id}`, {
    onEvent(ev) { if (ev.event === "announcement.created") notice(`📣 ${ev.data.title}`, ev.data.body); },
    onPresence(f) {
      if (f.joined) S.online.add(f.joined);
      if (f.left && !isMe(f.left)) S.online.delete(f.left);
      if (S.presenceChanges && (f.joined || f.left)) S.presenceChanges.push([Boolean(f.joined), f.joined || f.left]);
      if (f.online) S.online = new Set([...f.online, S.me.contact_id]);
      renderOnline();
      document.querySelectorAll("[data-presence]").forEach((el) => el.classList.toggle("online", S.online.has(el.dataset.presence)));
    },
    onReset() { loadPresence().catch(() => {}); },
  });
  keep(`contact:${S.me.contact_id}`, {
    onEvent(ev) {
      if (ev.event === "member.banned" && ev.data.hub_id === S.hub.id) showBanned(ev.data.reason, ev.data.expires_at);
      else if (ev.event === "member.warned" && ev.data.hub_id === S.hub.id) notice("A moderator warned you", ev.data.reason);
      else if (ev.event === "member.soft_banned" && ev.data.hub_id === S.hub.id) notice("You can read but not post for now", ev.data.reason);
      else if (ev.event === "message.received") messageReceived(ev.data);
    },
    onReset() { loadConversations().catch(() => {}); },
  });
  S.rt.connect();
}

function keep(channel, handlers) {
  if (S.persistent.has(channel)) return;
  S.persistent.set(channel, S.rt.subscribe(channel, handlers));
}

function notice(title, body) {
  const region = noticeRegion();
  const item = h("div", { class: "notice", role: "status" }, h("strong", { text: title }), body ? h("p", { text: body }) : null,
    h("button", { type: "button", class: "link", text: "Dismiss", on: { click: () => item.remove() } }));
  region.prepend(item);
}

function noticeRegion() {
  let region = $("#notices");
  if (!region) {
    region = h("div", { id: "notices", "aria-live": "polite" });
    main.before(region);
  }
  return region;
}

// ---- shared data --------------------------------------------------------------------------------------

async function loadSpaces() {
  const list = await api.all(H("/spaces"));
  S.spaces = new Map(list.map((r) => [r.id, attrs(r)]));
  S.spaceOrder = list.map((r) => r.id);
  S.spacesLoadedAt = performance.now();
  let watched = 0;
  for (const s of S.spaces.values()) {
    // live unread counts for the joined spaces (within the socket's subscription budget)
    if (s.joined && !s.locked && watched++ < MAX_WATCHED_SPACES) watchSpace(s.id);
    if (s.locked) lockDetails(s);
  }
}

function watchSpace(id) {
  const at = performance.now();
  keep(`space:${id}`, {
    onEvent(ev) {
      const s = S.spaces.get(id);
      if (!s || ev.event !== "discussion.created" || isMe(ev.data.author_contact_id)) return;
      if (S.view && S.view.name === "space" && S.view.id === id) return; // read as it arrives
      if (performance.now() < Math.max(at, S.spacesLoadedAt)) return; // counted by the list already
      s.unread_count = (s.unread_count || 0) + 1;
      if (S.view && S.view.name === "spaces") renderSpaceList();
    },
    onReset() { loadSpaces().then(() => { if (S.view && S.view.name === "spaces") renderSpaceList(); }).catch(() => {}); },
  });
}

async function lockDetails(space) {
  try {
    const d = (await api.get(H(`/access/check${query({ target_type: "space", target_id: space.id })}`))).data.attributes;
    space.unlock_at = d.unlock_at;
    if (S.view && S.view.name === "spaces") renderSpaceList();
  } catch (_) { /* the list's reason stands */ }
}

async function loadConversations() {
  const list = await api.all(H("/conversations"), 200);
  S.conversations = new Map(list.map((r) => [r.id, attrs(r)]));
  renderBadge();
  if (S.view && S.view.name === "messages") renderConversationList();
}

async function loadDirectory() {
  const list = await api.all(H("/members?page%5Bsize%5D=100"), 300);
  for (const r of list) S.names.set(r.id, r.attributes.display_name || "Member");
  refreshNames();
}

async function loadPresence() {
  // joins and leaves that arrive while the snapshot is on its way apply on top of it
  const changes = [];
  S.presenceChanges = changes;
  try {
    const p = (await api.get(H("/presence"))).data.attributes;
    const online = new Set(p.online);
    online.add(S.me.contact_id); // this page is open, whether or not its socket was counted yet
    for (const [joined, id] of changes) { if (joined) online.add(id); else online.delete(id); }
    S.online = online;
  } finally {
    if (S.presenceChanges === changes) S.presenceChanges = null;
  }
  renderOnline();
}

const pendingNames = new Set();

/** A member's display name, as an element that updates once the name is known. */
function who(contactId) {
  const el = h("span", { class: "who", dataset: { contact: contactId }, text: nameOf(contactId) });
  return el;
}

function nameOf(contactId) {
  if (isMe(contactId)) return S.me.profile.display_name ? `${S.me.profile.display_name} (you)` : "You";
  if (S.names.has(contactId)) return S.names.get(contactId);
  if (!pendingNames.has(contactId)) {
    pendingNames.add(contactId);
    api.get(H(`/members/${contactId}`)).then((r) => {
      S.names.set(contactId, r.data.attributes.display_name || "Member");
      refreshNames();
    }).catch(() => S.names.set(contactId, "Member"));
  }
  return "Member";
}

function refreshNames() {
  document.querySelectorAll("[data-contact]").forEach((el) => { el.textContent = nameOf(el.dataset.contact); });
}

// ---- spaces -----------------------------------------------------------------------------------------

async function spacesView(v) {
  v.name = "spaces";
  fill(main, h("h1", { text: "Spaces" }), h("ul", { class: "spaces list", id: "space-list" }),
    S.me.profile.display_name ? null : h("p", { class: "hint" }, "Tip: choose the name others see in ", h("a", { href: "#/profile", text: "your profile" }), "."));
  renderSpaceList();
  focusHeading(main);
}

function renderSpaceList() {
  const list = $("#space-list");
  if (!list) return;
  fill(list, S.spaceOrder.map((id) => S.spaces.get(id)).filter(Boolean).map((s) => {
    if (s.locked) {
      const why = s.unlock_at ? `Unlocks on ${when(s.unlock_at)}.` : LOCK_TEXT[s.lock_reason] || `Locked (${s.lock_reason}).`;
      return h("li", { class: "space locked", dataset: { space: s.id } },
        h("span", { class: "space-name" }, h("span", { "aria-hidden": "true", text: "🔒 " }), s.name),
        h("span", { class: "lock-reason", text: why }));
    }
    const unread = s.joined && s.unread_count ? h("span", { class: "badge", "aria-label": `${s.unread_count} unread`, text: String(s.unread_count) }) : null;
    return h("li", { class: "space", dataset: { space: s.id } },
      h("a", { class: "space-name", href: `#/spaces/${s.id}` }, s.name, " ", unread),
      s.description ? h("span", { class: "hint", text: s.description }) : null,
      s.joined ? null : h("button", { type: "button", class: "small", text: "Join", on: { click: () => joinSpace(s) } }));
  }));
}

async function joinSpace(s) {
  const r = await api.post(H(`/spaces/${s.id}/join`));
  Object.assign(s, attrs(r.data));
  watchSpace(s.id);
  if (S.view && S.view.name === "spaces") renderSpaceList();
  announce(`You joined ${s.name}.`);
}

async function spaceView(v, id) {
  v.name = "space";
  v.id = id;
  const feed = h("ol", { class: "feed", "aria-label": "Discussions" });
  const items = new Map();
  const queued = [];
  let ready = false;
  const apply = (ev) => {
    if (!ready) { queued.push(ev); return; }
    const d = ev.data;
    if (ev.event === "discussion.created" || ev.event === "discussion.updated") upsertDiscussion(feed, items, d, ev.event === "discussion.created");
    else if (ev.event === "discussion.removed") { const el = items.get(d.id); if (el) { el.remove(); items.delete(d.id); } }
    else if (ev.event === "discussion.activity") { const el = items.get(d.id); if (el) setCount(el, d.comment_count); }
    if (ev.event === "discussion.created" && !isMe(d.author_contact_id)) markSpaceRead(id);
  };
  await viewSubscribe(v, `space:${id}`, { onEvent: apply, onReset: () => { if (v.alive()) route(); } });
  let space = S.spaces.get(id);
  if (!space) { space = attrs((await api.get(H(`/spaces/${id}`))).data); S.spaces.set(id, space); }
  const list = await api.get(H(`/spaces/${id}/discussions?page%5Bsize%5D=30`));
  if (!v.alive()) return;
  const title = h("input", { name: "title", required: true, maxlength: 300 });
  const body = h("textarea", { name: "body", required: true, rows: 3, maxlength: 50000 });
  fill(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/", text: "← Spaces" })),
    h("h1", { text: space.name }),
    space.description ? h("p", { class: "hint", text: space.description }) : null,
    space.joined ? null : h("button", { type: "button", text: "Join this space", on: { click: async (e) => { await joinSpace(space); e.target.remove(); } } }),
    h("details", { class: "card compose" }, h("summary", { text: "Start a discussion" }),
      form({ "aria-label": "Start a discussion" }, [field("Title", title), field("What do you want to say?", body), h("button", { type: "submit", text: "Post" })], async (f) => {
        const r = await api.post(H(`/spaces/${id}/discussions`), doc("discussions", { title: title.value, body: body.value }));
        upsertDiscussion(feed, items, attrs(r.data), true);
        f.reset();
        f.closest("details").open = false;
        announce("Posted.");
      })),
    feed);
  for (const r of list.data) upsertDiscussion(feed, items, attrs(r), false);
  if (!list.data.length) feed.append(h("li", { class: "empty", text: "No discussions yet. Start one!" }));
  ready = true;
  queued.splice(0).forEach(apply);
  markSpaceRead(id);
  focusHeading(main);
}

function upsertDiscussion(feed, items, d, onTop) {
  const el = h("li", { class: "discussion", dataset: { id: d.id } },
    h("a", { class: "title", href: `#/discussions/${d.id}`, text: d.title }),
    h("span", { class: "meta" }, who(d.author_contact_id), " · ", time(d.published_at || d.created_at),
      d.is_pinned ? h("span", { class: "tag", text: "📌 pinned" }) : null,
      d.is_locked ? h("span", { class: "tag", text: "🔒 locked" }) : null),
    h("span", { class: "comment-count", "aria-label": `${d.comment_count} comments`, text: `💬 ${d.comment_count}` }));
  const old = items.get(d.id);
  feed.querySelector(".empty")?.remove();
  if (old) old.replaceWith(el);
  else if (onTop) feed.prepend(el);
  else feed.append(el);
  items.set(d.id, el);
}

function setCount(el, n) {
  const c = el.querySelector(".comment-count");
  c.textContent = `💬 ${n}`;
  c.setAttribute("aria-label", `${n} comments`);
}

let readTimer = null;
function markSpaceRead(id) {
  const s = S.spaces.get(id);
  if (!s || !s.joined) return;
  s.unread_count = 0;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => api.post(H(`/spaces/${id}/read`)).catch(() => {}), 300);
}

// ---- a discussion -----------------------------------------------------------------------------------

async function discussionView(v, id) {
  v.name = "discussion";
  v.id = id;
  const comments = new Map(); // id -> {el, replies, reactions}
  const typers = new Map();
  const queued = [];
  let ready = false;
  let d;
  const typing = h("p", { class: "typing", "aria-live": "polite" });
  const thread = h("ol", { class: "comments", "aria-label": "Comments" });
  const apply = (ev) => {
    if (!ready) { queued.push(ev); return; }
    const x = ev.data;
    switch (ev.event) {
      case "comment.created": case "comment.updated":
        upsertComment(x);
        if (typers.delete(x.author_contact_id)) renderTyping(); // their comment ends their typing
        break;
      case "comment.removed": { const c = comments.get(x.id); if (c) { c.el.remove(); comments.delete(x.id); } break; }
      case "reaction.added": case "reaction.removed": {
        const bar = x.target_type === "discussion" ? discussionBar : comments.get(x.target_id)?.reactions;
        if (bar) bar.set(x.emoji, x.count, isMe(x.contact_id) ? ev.event === "reaction.added" : undefined);
        break;
      }
      case "discussion.updated": d = { ...d, ...x }; renderHead(); break;
      case "discussion.removed":
        fill(main, h("p", { class: "crumbs" }, h("a", { href: `#/spaces/${d.space_id}`, text: "← Back to the space" })),
          h("h1", { text: "This discussion was removed" }), h("p", { text: "A moderator took it down." }));
        break;
      default:
    }
  };
  const onTyping = (f) => {
    if (isMe(f.contact_id)) return;
    typers.set(f.contact_id, Date.now() + TYPING_MS);
    renderTyping();
  };
  const renderTyping = () => {
    const now = Date.now();
    for (const [k, until] of typers) if (until < now) typers.delete(k);
    const names = [...typers.keys()].map(nameOf);
    typing.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  };
  v.timers.push(setInterval(renderTyping, 1000));
  await viewSubscribe(v, `discussion:${id}`, { onEvent: apply, onTyping, onReset: () => { if (v.alive()) route(); } });
  const [dr, cr] = await Promise.all([api.get(H(`/discussions/${id}`)), api.all(H(`/discussions/${id}/comments?page%5Bsize%5D=100`))]);
  if (!v.alive()) return;
  d = attrs(dr.data);
  const head = h("div", { class: "discussion-head" });
  const discussionBar = reactionBar("discussion", id, d.reactions);
  const renderHead = () => {
    fill(head,
      h("h1", { text: d.title }),
      h("p", { class: "meta" }, who(d.author_contact_id), " · ", time(d.published_at || d.created_at),
        d.edited_at ? " · edited" : null, d.is_pinned ? h("span", { class: "tag", text: "📌 pinned" }) : null,
        d.is_locked ? h("span", { class: "tag", text: "🔒 locked" }) : null),
      h("p", { class: "pre body", text: d.body }),
      discussionBar.el,
      h("div", { class: "actions" },
        isMe(d.author_contact_id) ? h("button", { type: "button", class: "small", text: "Edit", on: { click: () => editDiscussion(head, d, (nd) => { d = nd; renderHead(); }) } }) : null,
        isMe(d.author_contact_id) ? null : reportButton("discussion", id, head),
        isModerator() ? moderatorControls(d, (nd) => { d = nd; renderHead(); }) : null));
  };
  renderHead();
  const upsertComment = (c) => {
    const old = comments.get(c.id);
    const bar = old ? old.reactions : reactionBar("comment", c.id, c.reactions || []);
    const body = h("div", { class: "comment-body" },
      h("p", { class: "meta" }, who(c.author_contact_id), " · ", time(c.created_at), c.edited_at ? " · edited" : null),
      h("p", { class: "pre", text: c.body }), bar.el);
    const replies = old ? old.replies : h("ol", { class: "replies" });
    const li = old ? old.el : h("li", { class: "comment", dataset: { id: c.id } });
    const actions = h("div", { class: "actions" },
      h("button", { type: "button", class: "small", text: "Reply", on: { click: () => replyForm(li, c.id) } }),
      isMe(c.author_contact_id) ? h("button", { type: "button", class: "small", text: "Edit", on: { click: () => editComment(li, c) } }) : reportButton("comment", c.id, li),
      isModerator() ? h("button", { type: "button", class: "small danger", text: "Remove", on: { click: () => api.post(H(`/comments/${c.id}/remove`), doc("removals", {})) } }) : null);
    fill(li, body, actions, replies);
    if (!old) {
      const parent = c.parent_id && comments.get(c.parent_id);
      (parent ? parent.replies : thread).append(li);
    }
    comments.set(c.id, { el: li, replies, reactions: bar });
  };
  const replyForm = (li, parentId) => {
    if (li.querySelector(":scope > form")) return;
    const text = h("textarea", { rows: 2, required: true });
    const f = form({ class: "reply", "aria-label": "Reply" }, [field("Your reply", text), h("button", { type: "submit", text: "Reply" })], async () => {
      const r = await api.post(H(`/discussions/${id}/comments`), doc("comments", { body: text.value, parent_id: parentId }));
      upsertComment(attrs(r.data));
      f.remove();
    });
    li.querySelector(".actions").after(f);
    text.focus();
  };
  const text = h("textarea", { name: "body", rows: 3, required: true, maxlength: 10000 });
  let lastTyping = 0;
  text.addEventListener("input", () => {
    if (Date.now() - lastTyping > 3000) { lastTyping = Date.now(); S.rt.typing(`discussion:${id}`); }
  });
  const compose = form({ class: "card", "aria-label": "Add a comment" }, [field("Add a comment", text), h("button", { type: "submit", text: "Comment" })], async () => {
    const r = await api.post(H(`/discussions/${id}/comments`), doc("comments", { body: text.value }));
    upsertComment(attrs(r.data));
    text.value = "";
    lastTyping = 0;
  });
  fill(main, h("p", { class: "crumbs" }, h("a", { href: `#/spaces/${d.space_id}`, text: "← Back to the space" })),
    head, h("h2", { text: "Comments" }), thread, typing, compose);
  for (const r of cr) upsertComment(attrs(r));
  ready = true;
  queued.splice(0).forEach(apply);
  focusHeading(main);
}

function editDiscussion(container, d, done) {
  const title = h("input", { value: d.title, required: true });
  const body = h("textarea", { rows: 5, required: true });
  body.value = d.body;
  const f = form({ class: "card", "aria-label": "Edit the discussion" }, [field("Title", title), field("Text", body),
    h("button", { type: "submit", text: "Save" }), h("button", { type: "button", class: "link", text: "Cancel", on: { click: () => f.remove() } })], async () => {
    const r = await api.patch(H(`/discussions/${d.id}`), doc("discussions", { title: title.value, body: body.value }));
    done(attrs(r.data));
  });
  container.append(f);
  title.focus();
}

function editComment(li, c) {
  if (li.querySelector(":scope > form")) return;
  const text = h("textarea", { rows: 2, required: true });
  text.value = c.body;
  const f = form({ "aria-label": "Edit the comment" }, [field("Edit your comment", text), h("button", { type: "submit", text: "Save" })], async () => {
    await api.patch(H(`/comments/${c.id}`), doc("comments", { body: text.value }));
    f.remove();
  });
  li.querySelector(".actions").after(f);
  text.focus();
}

function moderatorControls(d, done) {
  const act = (method, path, body) => async () => done(attrs((await api.request(method, H(`/discussions/${d.id}/${path}`), { body })).data));
  return h("span", { class: "mod" },
    h("button", { type: "button", class: "small", text: d.is_pinned ? "Unpin" : "Pin", on: { click: act(d.is_pinned ? "DELETE" : "POST", "pin") } }),
    h("button", { type: "button", class: "small", text: d.is_locked ? "Unlock" : "Lock", on: { click: act(d.is_locked ? "DELETE" : "POST", "lock") } }),
    h("button", { type: "button", class: "small danger", text: "Remove", on: { click: act("POST", "remove", doc("removals", {})) } }));
}

/** Emoji buttons with counts; `set(emoji, count, reacted?)` applies a live change. */
function reactionBar(targetType, targetId, initial) {
  const state = new Map(REACTIONS.map((e) => [e, { count: 0, reacted: false }]));
  for (const r of initial || []) state.set(r.emoji, { count: r.count, reacted: r.reacted });
  const el = h("div", { class: "reactions", role: "group", "aria-label": "Reactions" });
  const render = () => fill(el, [...state].map(([emoji, s]) => h("button", {
    type: "button", class: `reaction${s.reacted ? " mine" : ""}`, "aria-pressed": s.reacted ? "true" : "false",
    "aria-label": `${emoji} ${s.count}`, dataset: { emoji },
    on: { click: () => toggle(emoji) },
  }, `${emoji} `, h("span", { class: "count", text: String(s.count) }))));
  const toggle = async (emoji) => {
    const s = state.get(emoji);
    const path = `/${targetType === "discussion" ? "discussions" : "comments"}/${targetId}/reactions/${encodeURIComponent(emoji)}`;
    const r = await api.request(s.reacted ? "DELETE" : "PUT", H(path));
    for (const x of r.data.attributes.reactions) state.set(x.emoji, { count: x.count, reacted: x.reacted });
    if (!r.data.attributes.reactions.some((x) => x.emoji === emoji)) state.set(emoji, { count: 0, reacted: false });
    render();
  };
  render();
  return {
    el,
    set(emoji, count, reacted) {
      const s = state.get(emoji) || { count: 0, reacted: false };
      state.set(emoji, { count, reacted: reacted === undefined ? s.reacted : reacted });
      render();
    },
  };
}

function reportButton(targetType, targetId, container) {
  return h("button", {
    type: "button", class: "small link", text: "Report",
    on: {
      click: () => {
        if (container.querySelector(":scope > form.report")) return;
        const reason = h("textarea", { rows: 2, required: true, maxlength: 1000 });
        const f = form({ class: "report card", "aria-label": "Report" }, [field("What is wrong?", reason), h("button", { type: "submit", text: "Send report" })], async () => {
          await api.post(H("/reports"), doc("reports", { target_type: targetType, target_id: targetId, reason: reason.value }));
          f.replaceWith(h("p", { class: "success", role: "status", text: "Thanks: a moderator will look at it." }));
        });
        container.append(f);
        reason.focus();
      },
    },
  });
}

// ---- direct messages --------------------------------------------------------------------------------

function messageReceived(m) {
  const viewing = S.view && S.view.name === "conversation" && S.view.id === m.conversation_id;
  const c = S.conversations.get(m.conversation_id);
  if (!c) { loadConversations().catch(() => {}); return; }
  if (c.last_message_at && new Date(m.created_at) <= new Date(c.last_message_at)) return; // counted already
  c.last_message_at = m.created_at;
  if (!viewing) c.unread_count = (c.unread_count || 0) + 1;
  renderBadge();
  if (S.view && S.view.name === "messages") renderConversationList();
}

function others(c) {
  return c.participant_ids.filter((x) => !isMe(x));
}

async function messagesView(v) {
  v.name = "messages";
  const pick = h("select", { required: true }, h("option", { value: "", text: "Choose a member" }),
    [...S.names].filter(([id]) => !isMe(id)).map(([id, name]) => h("option", { value: id, text: name })));
  fill(main, h("h1", { text: "Messages" }), h("ul", { class: "list", id: "conversation-list" }),
    form({ class: "card", "aria-label": "New conversation" }, [field("Write to", pick), h("button", { type: "submit", text: "Open conversation" })], async () => {
      await openConversationWith(pick.value);
    }));
  renderConversationList();
  focusHeading(main);
}

function renderConversationList() {
  const list = $("#conversation-list");
  if (!list) return;
  const items = [...S.conversations.values()].sort((a, b) => (b.last_message_at || "").localeCompare(a.last_message_at || ""));
  fill(list, items.length ? items.map((c) => h("li", { class: "conversation", dataset: { id: c.id } },
    h("a", { href: `#/messages/${c.id}` }, others(c).map((x, i) => [i ? ", " : "", who(x)]),
      c.unread_count ? h("span", { class: "badge", "aria-label": `${c.unread_count} unread`, text: String(c.unread_count) }) : null),
    c.last_message_at ? h("span", { class: "hint" }, time(c.last_message_at)) : null))
    : h("li", { class: "empty", text: "No conversations yet." }));
}

async function openConversationWith(contactId) {
  const r = await api.post(H("/conversations"), doc("conversations", { participant_ids: [contactId] }));
  const c = attrs(r.data);
  S.conversations.set(c.id, { ...S.conversations.get(c.id), ...c });
  location.hash = `#/messages/${c.id}`;
}

async function conversationView(v, id) {
  v.name = "conversation";
  v.id = id;
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const receipt = h("p", { class: "receipt", "aria-live": "polite" });
  const typing = h("p", { class: "typing", "aria-live": "polite" });
  const shown = new Map();
  const typers = new Map();
  const queued = [];
  let ready = false;
  let conv;
  const add = (m) => {
    if (shown.has(m.id)) return;
    const li = h("li", { class: `message${isMe(m.author_contact_id) ? " mine" : ""}`, dataset: { id: m.id } },
      h("p", { class: "meta" }, who(m.author_contact_id), " · ", time(m.created_at)),
      h("p", { class: "pre", text: m.body }));
    if (!isMe(m.author_contact_id)) li.append(reportButton("message", m.id, li));
    shown.set(m.id, { li, m });
    list.append(li);
    li.scrollIntoView({ block: "nearest" });
  };
  const renderReceipt = () => {
    const mine = [...shown.values()].filter((x) => isMe(x.m.author_contact_id)).pop();
    if (!mine || !conv) { receipt.textContent = ""; return; }
    const readers = conv.participants.filter((p) => !isMe(p.contact_id) && p.last_read_message_id && p.last_read_message_id >= mine.m.id);
    receipt.textContent = readers.length ? `Seen by ${readers.map((p) => nameOf(p.contact_id)).join(", ")}` : "Sent";
  };
  const apply = (ev) => {
    if (!ready) { queued.push(ev); return; }
    if (ev.event === "message.created") {
      add(ev.data);
      typers.delete(ev.data.author_contact_id);
      if (!isMe(ev.data.author_contact_id)) markRead();
      renderReceipt();
    } else if (ev.event === "message.removed") {
      const x = shown.get(ev.data.id);
      if (x) fill(x.li, h("p", { class: "hint", text: "A moderator removed this message." }));
    } else if (ev.event === "conversation.read") {
      const p = conv.participants.find((q) => q.contact_id === ev.data.contact_id);
      if (p) { p.last_read_message_id = ev.data.last_read_message_id; p.last_read_at = ev.data.read_at; }
      renderReceipt();
    }
  };
  const renderTyping = () => {
    const now = Date.now();
    for (const [k, until] of typers) if (until < now) typers.delete(k);
    const names = [...typers.keys()].map(nameOf);
    typing.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  };
  v.timers.push(setInterval(renderTyping, 1000));
  const onTyping = (f) => { if (!isMe(f.contact_id)) { typers.set(f.contact_id, Date.now() + TYPING_MS); renderTyping(); } };
  let reading = null;
  const markRead = () => {
    clearTimeout(reading);
    reading = setTimeout(async () => {
      try {
        const r = await api.post(H(`/conversations/${id}/read`));
        conv = attrs(r.data);
        S.conversations.set(id, conv);
        renderBadge();
      } catch (_) { /* offline: read again with the next message */ }
    }, 200);
  };
  await viewSubscribe(v, `conversation:${id}`, { onEvent: apply, onTyping, onReset: () => { if (v.alive()) route(); } });
  const [cr, mr] = await Promise.all([api.get(H(`/conversations/${id}`)), api.get(H(`/conversations/${id}/messages?page%5Bsize%5D=50`))]);
  if (!v.alive()) return;
  conv = attrs(cr.data);
  S.conversations.set(id, conv);
  const text = h("textarea", { rows: 2, required: true, maxlength: 10000 });
  let lastTyping = 0;
  text.addEventListener("input", () => {
    if (Date.now() - lastTyping > 3000) { lastTyping = Date.now(); S.rt.typing(`conversation:${id}`); }
  });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); text.form.requestSubmit(); }
  });
  fill(main, h("p", { class: "crumbs" }, h("a", { href: "#/messages", text: "← Messages" })),
    h("h1", {}, "With ", others(conv).map((x, i) => [i ? ", " : "", who(x)])),
    list, receipt, typing,
    form({ class: "compose-message", "aria-label": "Send a message" }, [field("Message", text), h("button", { type: "submit", text: "Send" })], async () => {
      const r = await api.post(H(`/conversations/${id}/messages`), doc("messages", { body: text.value }));
      add(attrs(r.data));
      text.value = "";
      lastTyping = 0;
      renderReceipt();
    }));
  for (const r of mr.data.slice().reverse()) add(attrs(r));
  ready = true;
  queued.splice(0).forEach(apply);
  renderReceipt();
  markRead();
  text.focus();
}

// ---- members and profile ----------------------------------------------------------------------------

async function membersView(v) {
  v.name = "members";
  const search = h("input", { type: "search", name: "q", maxlength: 100 });
  const list = h("ul", { class: "list members" });
  const load = async () => {
    const r = await api.get(H(`/members${query({ "filter[q]": search.value.trim(), "page[size]": 100 })}`));
    if (!v.alive()) return;
    fill(list, r.data.map((m) => {
      S.names.set(m.id, m.attributes.display_name || "Member");
      return h("li", { class: "member" },
        h("span", { class: `presence${S.online.has(m.id) ? " online" : ""}`, dataset: { presence: m.id }, "aria-hidden": "true" }),
        h("a", { href: `#/members/${m.id}` }, who(m.id)),
        m.attributes.role !== "member" ? h("span", { class: "tag", text: m.attributes.role }) : null,
        isMe(m.id) ? null : h("button", { type: "button", class: "small", text: "Message", on: { click: () => openConversationWith(m.id) } }));
    }));
  };
  fill(main, h("h1", { text: "Members" }),
    form({ role: "search", "aria-label": "Search members" }, [field("Search by name", search), h("button", { type: "submit", text: "Search" })], load),
    list);
  await load();
  focusHeading(main);
}

async function memberView(v, id) {
  v.name = "member";
  const m = (await api.get(H(`/members/${id}`))).data.attributes;
  if (!v.alive()) return;
  const card = h("section", { class: "card profile" },
    h("h1", {}, h("span", { class: `presence${S.online.has(id) ? " online" : ""}`, dataset: { presence: id }, "aria-hidden": "true" }), m.display_name || "Member"),
    h("p", { class: "meta" }, m.role, " · joined ", time(m.joined_at)),
    m.bio ? h("p", { class: "pre", text: m.bio }) : null,
    (m.links || []).length ? h("ul", {}, m.links.map((l) => h("li", {}, h("a", { href: /^https?:\/\//.test(l.url) ? l.url : "#", rel: "noopener noreferrer nofollow", text: l.label || l.url })))) : null,
    h("div", { class: "actions" },
      isMe(id) ? h("a", { href: "#/profile", text: "Edit your profile" })
        : h("button", { type: "button", text: "Send a message", on: { click: () => openConversationWith(id) } })));
  if (!isMe(id)) card.querySelector(".actions").append(reportButton("member", id, card));
  fill(main, h("p", { class: "crumbs" }, h("a", { href: "#/members", text: "← Members" })), card);
  focusHeading(main);
}

async function profileView(v) {
  v.name = "profile";
  S.me = await loadMe();
  if (!v.alive()) return;
  const p = S.me.profile;
  const name = h("input", { name: "display_name", value: p.display_name || "", maxlength: 100, autocomplete: "nickname" });
  const bio = h("textarea", { name: "bio", rows: 4, maxlength: 2000 });
  bio.value = p.bio || "";
  const visibility = h("select", { name: "visibility" }, [["everyone", "Every member"], ["shared_spaces", "Members who share a space with me"], ["hidden", "Nobody"]]
    .map(([value, text]) => h("option", { value, text, selected: p.visibility === value })));
  const dms = h("input", { type: "checkbox", name: "direct_messages", checked: S.me.notification_preferences.direct_messages !== false });
  fill(main, h("h1", { text: "Your profile" }), h("p", { class: "hint", text: S.me.email }),
    form({ class: "card", "aria-label": "Your profile" }, [
      field("Display name", name), field("About you", bio), field("Who can see your profile", visibility),
      h("label", { class: "check" }, dms, " Accept direct messages"),
      h("button", { type: "submit", text: "Save" })], async () => {
      const r = await api.patch(H("/me"), doc("members", {
        profile: { display_name: name.value.trim() || null, bio: bio.value.trim() || null, visibility: visibility.value },
        notification_preferences: { direct_messages: dms.checked },
      }));
      S.me = attrs(r.data);
      refreshNames();
      announce("Profile saved.");
    }));
  focusHeading(main);
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
