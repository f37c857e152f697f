// 备选方案 (shortlist) kept in this browser's localStorage: no account, survives reloads.
// The server only sees ids in URLs (/shortlist?ids=a,b), so every control also works as a plain link or form.
(function () {
  "use strict";
  var KEY = "kb.shortlist";
  var MAX = 50;

  function load() {
    try {
      var ids = JSON.parse(window.localStorage.getItem(KEY) || "[]");
      return Array.isArray(ids) ? ids.filter(function (x) { return typeof x === "string"; }).slice(0, MAX) : [];
    } catch (e) { return []; }
  }
  function save(ids) {
    try { window.localStorage.setItem(KEY, JSON.stringify(ids.slice(0, MAX))); } catch (e) { /* private mode */ }
    refresh();
  }
  function shortlistUrl(ids) {
    return "/shortlist" + (ids.length ? "?ids=" + ids.map(encodeURIComponent).join(",") : "");
  }
  function sameSet(a, b) {
    return a.length === b.length && a.every(function (x) { return b.indexOf(x) >= 0; });
  }

  function refresh() {
    var ids = load();
    document.querySelectorAll("[data-shortlist-count]").forEach(function (el) {
      el.textContent = ids.length ? "（" + ids.length + "）" : "";
    });
    document.querySelectorAll("a[data-shortlist-nav]").forEach(function (a) { a.href = shortlistUrl(ids); });
    document.querySelectorAll("button[data-shortlist-id]").forEach(function (button) {
      var inList = ids.indexOf(button.getAttribute("data-shortlist-id")) >= 0;
      button.textContent = inList ? "已加入备选方案 ✓（点击移出）" : "加入备选方案";
      button.classList.toggle("in-shortlist", inList);
      button.setAttribute("aria-pressed", inList ? "true" : "false");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("shortlist-add")) { return; }
    var button = form.querySelector("button[data-shortlist-id]");
    if (!button) { return; }
    event.preventDefault();
    var id = button.getAttribute("data-shortlist-id");
    var ids = load();
    var at = ids.indexOf(id);
    if (at >= 0) { ids.splice(at, 1); } else if (ids.length < MAX) { ids.push(id); }
    save(ids);
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-shortlist-remove]");
    if (!link) { return; }
    event.preventDefault();
    var id = link.getAttribute("data-shortlist-remove");
    var shown = (document.getElementById("shortlist").getAttribute("data-ids") || "").split(",").filter(Boolean);
    var rest = shown.filter(function (x) { return x !== id; });
    if (sameSet(load(), shown)) { save(rest); }
    window.location.href = shortlistUrl(rest);
  });

  function shortlistPage() {
    var section = document.getElementById("shortlist");
    if (!section) { return; }
    var shown = (section.getAttribute("data-ids") || "").split(",").filter(Boolean);
    var fromUrl = section.getAttribute("data-from-url") === "1";
    var mine = load();
    if (!fromUrl) {                              // /shortlist alone: show this browser's list
      if (mine.length) { window.location.replace(shortlistUrl(mine)); }
      return;
    }
    var requested = new URLSearchParams(window.location.search).getAll("ids").join(",").split(",").filter(Boolean);
    if (!mine.length || sameSet(mine, requested) || sameSet(mine, shown)) {
      if (!sameSet(mine, shown)) { save(shown); }        // adopt, and drop ids no longer in the knowledge base
    } else {
      var notice = document.getElementById("shortlist-shared");
      notice.hidden = false;
      document.getElementById("shortlist-adopt").addEventListener("click", function () {
        save(shown);
        notice.hidden = true;
      });
    }
    var copy = document.getElementById("shortlist-copy");
    var share = document.getElementById("shortlist-share");
    if (copy && share && navigator.clipboard) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(share.value).then(function () { copy.textContent = "已复制"; });
      });
    }
  }

  refresh();
  shortlistPage();
})();
