// The consultant's app, enhanced: every page works as plain forms without this script.
// It saves report sections and "who is present" as she types (at most a second or two after
// she stops, and every few seconds while she keeps typing), and keeps the sync bar current.
(function () {
  "use strict";
  var bar = document.getElementById("syncbar");
  var csrf = bar ? bar.getAttribute("data-csrf") : "";

  function autosave(form) {
    var area = form.querySelector("textarea");
    var note = form.querySelector(".saved");
    var timer = null, first = 0, sent = area.value, busy = false, again = false;
    function save() {
      clearTimeout(timer);
      timer = null;
      first = 0;
      if (area.value === sent) return;
      if (busy) { again = true; return; }
      busy = true;
      var value = area.value;
      note.className = "saved";
      var body = new URLSearchParams();
      body.set("text", value);
      fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin", keepalive: true,
        headers: { "X-CSRF-Token": csrf, "X-Requested-With": "samvaer" }
      }).then(function (res) {
        return res.text().then(function (text) {
          if (res.headers.get("X-Locked")) { window.location.reload(); return; }
          if (res.ok) { sent = value; } else { note.className = "saved error"; }
          note.textContent = text;
        });
      }).catch(function () {
        note.className = "saved error";
      }).then(function () {
        busy = false;
        if (again) { again = false; save(); }
      });
    }
    area.addEventListener("input", function () {
      var now = Date.now();
      if (!first) first = now;
      clearTimeout(timer);
      // Saved a second after she pauses, and at least every 2 seconds while she keeps typing.
      timer = setTimeout(save, now - first >= 2000 ? 0 : 1000);
    });
    area.addEventListener("blur", save);
    window.addEventListener("pagehide", save);
  }
  document.querySelectorAll("form[data-autosave]").forEach(autosave);

  // The sync bar, every 3 seconds. A locked tablet shows the PIN page.
  if (bar && !document.getElementById("unlock")) {
    setInterval(function () {
      fetch("/status?back=" + encodeURIComponent(window.location.pathname), { credentials: "same-origin" }).then(function (res) {
        if (res.headers.get("X-Locked")) { window.location.reload(); return; }
        return res.text().then(function (html) { if (res.ok) bar.innerHTML = html; });
      }).catch(function () {});
    }, 3000);
  }
})();
