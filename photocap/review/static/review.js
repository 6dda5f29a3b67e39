// photocap review: the grid, filters, paging and inline editing. Text is only ever set with
// textContent, attributes with setAttribute/properties: a caption is never parsed as HTML.
"use strict";

(() => {
  const token = document.querySelector('meta[name="photocap-token"]').content;
  const grid = document.getElementById("grid");
  const more = document.getElementById("more");
  const status = document.getElementById("status");
  const filters = document.getElementById("filters");
  let next = null;
  let shown = 0;
  let total = 0;
  let totalExact = true;

  function say(text) {
    status.textContent = text;
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = { error: `the server answered ${response.status}` };
    }
    return { ok: response.ok, status: response.status, payload };
  }

  function query(after) {
    const params = new URLSearchParams();
    for (const name of ["q", "under", "source", "held_back", "sort"]) {
      const value = document.getElementById(name).value.trim();
      if (value) params.set(name, value);
    }
    if (after) params.set("after", after);
    return `/api/photos?${params}`;
  }

  async function load(append) {
    say("Loading photos…");
    const { ok, payload } = await api(query(append ? next : null));
    if (!ok) {
      say(`Could not load photos: ${payload.error}`);
      return;
    }
    if (!append) {
      grid.replaceChildren();
      shown = 0;
    }
    const first = grid.children.length;
    for (const photo of payload.photos) grid.append(card(photo));
    shown += payload.photos.length;
    if (payload.total !== null) {
      // counted on the first page only, and only so far: past it, "more than"
      total = payload.total;
      totalExact = payload.total_exact;
    }
    next = payload.next;
    more.hidden = !next;
    const of = totalExact ? `${total}` : `more than ${total.toLocaleString("en")}`;
    say(total === 0 ? "No photos match." : `Showing ${shown} of ${of} photo${total === 1 ? "" : "s"}.`);
    const cards = grid.querySelectorAll(".card");
    if (cards.length && !grid.querySelector('.card[tabindex="0"]')) cards[0].tabIndex = 0;
    if (append && cards[first]) focusCard(cards[first]);
  }

  function altOf(photo) {
    return photo.caption ? photo.caption : `Photo ${photo.name}, no caption`;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function card(photo) {
    const li = element("li", "card");
    li.tabIndex = -1;
    li.dataset.id = photo.id;
    const figure = element("figure");
    const img = element("img");
    img.src = photo.thumbnail;
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = altOf(photo);
    const caption = element("p", "caption");
    const editor = element("div", "editor");
    editor.hidden = true;
    const inputId = `caption-${photo.id}`;
    const label = element("label", null, `Caption of ${photo.name}`);
    label.htmlFor = inputId;
    const input = element("input");
    input.type = "text";
    input.id = inputId;
    input.autocomplete = "off";
    editor.append(label, input);
    const meta = element("p", "meta");
    const labels = element("p", "labels");
    const name = element("p", "name", photo.path);
    const error = element("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    figure.append(img);
    const text = element("div");
    text.append(caption, editor, meta, labels, name, error);
    const actions = element("div", "actions");
    const edit = element("button", "secondary", "Edit");
    const accept = element("button", "secondary", "Accept");
    const clear = element("button", "secondary", "Clear");
    for (const button of [edit, accept, clear]) button.type = "button";
    actions.append(edit, accept, clear);
    li.append(figure, text, actions);
    li.photo = photo;
    li.parts = { img, caption, editor, input, meta, labels, error, edit, accept, clear };
    show(li, photo);

    edit.addEventListener("click", () => startEditing(li));
    accept.addEventListener("click", () => save(li, li.photo.caption, "Caption accepted"));
    clear.addEventListener("click", () => save(li, null, "Caption cleared"));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        save(li, input.value, "Caption saved");
      } else if (event.key === "Escape") {
        event.preventDefault();
        stopEditing(li);
        say("Edit cancelled; the caption is unchanged.");
      }
      event.stopPropagation();
    });
    li.addEventListener("keydown", (event) => {
      if (event.target !== li) return;
      if (event.key === "Enter") {
        event.preventDefault();
        startEditing(li);
      } else {
        move(li, event);
      }
    });
    li.addEventListener("focus", () => {
      for (const other of grid.querySelectorAll('.card[tabindex="0"]')) other.tabIndex = -1;
      li.tabIndex = 0;
    });
    return li;
  }

  function show(li, photo) {
    const p = li.parts;
    li.photo = photo;
    p.img.alt = altOf(photo);
    p.caption.textContent = photo.caption || "No caption";
    p.caption.classList.toggle("empty", !photo.caption);
    const badges = [];
    const source = photo.source || "none";
    const by = { model: "by the model", human: "by a person", none: "not captioned" }[source];
    badges.push([`badge ${photo.source || "plain"}`, by]);
    badges.push([
      "badge plain",
      photo.confidence === null ? "confidence —" : `confidence ${Math.round(photo.confidence * 100)}%`,
    ]);
    if (photo.held_back) badges.push(["badge held", "held back"]);
    if (photo.alt_text) badges.push(["badge plain", `written instead: ${photo.alt_text}`]);
    if (photo.status === "error") badges.push(["badge held", `error: ${photo.error}`]);
    p.meta.replaceChildren(...badges.map(([cls, text]) => element("span", cls, text)));
    const names = photo.labels.map((label) => label.name);
    p.labels.textContent = names.length ? `Labels: ${names.join(", ")}` : "";
    p.labels.hidden = !names.length;
    p.accept.hidden = !(photo.source === "model" && photo.caption);
    p.clear.hidden = !photo.caption;
    p.edit.setAttribute("aria-label", `Edit the caption of ${photo.name}`);
    p.accept.setAttribute("aria-label", `Accept the caption of ${photo.name}`);
    p.clear.setAttribute("aria-label", `Clear the caption of ${photo.name}`);
  }

  function startEditing(li) {
    const p = li.parts;
    p.input.value = li.photo.caption || "";
    p.editor.hidden = false;
    p.caption.hidden = true;
    p.input.focus();
    p.input.select();
  }

  function stopEditing(li) {
    li.parts.editor.hidden = true;
    li.parts.caption.hidden = false;
    li.parts.error.hidden = true;
    focusCard(li);
  }

  async function save(li, caption, done) {
    const p = li.parts;
    say("Saving…");
    let result;
    try {
      result = await api(`/api/photos/${li.photo.id}`, {
        method: "PATCH",
        body: JSON.stringify({ caption }),
      });
    } catch (err) {
      result = { ok: false, payload: { error: `the server cannot be reached (${err})` } };
    }
    if (!result.ok) {
      // Nothing is lost: the typed text stays in the editor, the reason beside it.
      p.error.textContent = `Not saved: ${result.payload.error}`;
      p.error.hidden = false;
      say(`Not saved: ${result.payload.error}`);
      if (!p.editor.hidden) p.input.focus();
      return;
    }
    show(li, result.payload);
    p.error.hidden = true;
    p.editor.hidden = true;
    p.caption.hidden = false;
    focusCard(li);
    say(`${done}: written into ${li.photo.name}.`);
  }

  function focusCard(li) {
    for (const other of grid.querySelectorAll('.card[tabindex="0"]')) other.tabIndex = -1;
    li.tabIndex = 0;
    li.focus();
  }

  function columns() {
    const cards = grid.children;
    if (!cards.length) return 1;
    const top = cards[0].offsetTop;
    let n = 0;
    while (n < cards.length && cards[n].offsetTop === top) n += 1;
    return Math.max(1, n);
  }

  function move(li, event) {
    const cards = Array.from(grid.children);
    const at = cards.indexOf(li);
    const steps = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: columns(),
      ArrowUp: -columns(),
      Home: -at,
      End: cards.length - 1 - at,
    };
    if (!(event.key in steps)) return;
    event.preventDefault();
    const target = cards[Math.min(cards.length - 1, Math.max(0, at + steps[event.key]))];
    if (target) focusCard(target);
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  more.addEventListener("click", () => load(true));
  load(false);
})();
