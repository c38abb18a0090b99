// Small DOM helpers shared by the staff and member apps. Text is always set with textContent
// (never innerHTML), so nothing a member writes is ever parsed as markup.

/** h("button", {class: "x", on: {click}}, "Label", child...) → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

let ids = 0;

/** A labelled form control (<label for>), its hint tied to it with aria-describedby, so every
 * field has a name and a description a screen reader reads out. */
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++ids}`;
  let note = null;
  if (hint) {
    note = h("span", { class: "hint", id: `${control.id}-hint`, text: hint });
    control.setAttribute("aria-describedby", note.id);
  }
  return h("div", { class: "field" }, h("label", { class: "field-label", for: control.id, text: label }), control, note);
}

/** A form whose submit runs `onSubmit(form)` (never a page load); its button is disabled meanwhile
 * and an error shows in the form's own live region. */
export function form(attrs, children, onSubmit) {
  const status = h("p", { class: "form-error", role: "alert" });
  const el = h("form", { ...attrs, novalidate: false }, children, status);
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const buttons = el.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    status.textContent = "";
    try {
      await onSubmit(el);
    } catch (err) {
      status.textContent = errorText(err);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return el;
}

export function errorText(err) {
  if (err && err.detail) return err.detail;
  if (err && err.message) return err.message;
  return "Something went wrong. Try again.";
}

/** Say something to screen readers (and show it in the status area). */
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = text;
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { if (live.textContent === text) live.textContent = ""; }, 8000);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeOnly.format(d) : dateTime.format(d);
}

export function time(iso) {
  return h("time", { datetime: iso, text: when(iso) });
}

/** Move keyboard focus to a view's heading after navigation, so screen readers follow. */
export function focusHeading(root) {
  const heading = root.querySelector("h1, h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

/** A #rrggbb / #rgb color or null: brand colors come from the hub, checked before use. */
export function safeColor(value) {
  return typeof value === "string" && /^#(?:[0-9a-fA-F]{3}){1,2}$/.test(value) ? value : null;
}
