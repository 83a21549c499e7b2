// The consultant's app, enhanced: every page works as plain forms without this script.
// It saves report sections and "who is present" as she types (at most a second or two after
// she stops, and every few seconds while she keeps typing), keeps the observation she is
// typing as a draft the same way (so the idle lock or a dying battery loses none of it), and
// keeps the sync bar current.
(function () {
  "use strict";
  var bar = document.getElementById("syncbar");
  var csrf = bar ? bar.getAttribute("data-csrf") : "";

  // autosave posts area's text to url as she types; note shows how it went. It returns
  // stop(then): no more saves, then() once none is on its way.
  function autosave(area, url, note) {
    var timer = null, first = 0, sent = area.value, busy = false, again = false, stopped = false, idle = [];
    function save() {
      clearTimeout(timer);
      timer = null;
      first = 0;
      if (stopped || area.value === sent) return;
      if (busy) { again = true; return; }
      busy = true;
      var value = area.value;
      note.className = "saved";
      var body = new URLSearchParams();
      body.set("text", value);
      fetch(url, {
        method: "POST", body: body, credentials: "same-origin", keepalive: true,
        headers: { "X-CSRF-Token": csrf, "X-Requested-With": "samvaer" }
      }).then(function (res) {
        return res.text().then(function (text) {
          // Locked: a draft was kept all the same (202); the page asks for the PIN.
          if (res.headers.get("X-Locked")) { if (res.status === 202) sent = value; window.location.reload(); return; }
          if (res.ok) { sent = value; } else { note.className = "saved error"; }
          note.textContent = text;
        });
      }).catch(function () {
        note.className = "saved error";
      }).then(function () {
        busy = false;
        if (again && !stopped) { again = false; save(); }
        if (!busy) { idle.splice(0).forEach(function (f) { f(); }); }
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
    return {
      save: save,
      stop: function (then) {
        stopped = true;
        clearTimeout(timer);
        if (busy) { idle.push(then); } else { then(); }
      }
    };
  }
  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    autosave(form.querySelector("textarea"), form.action, form.querySelector(".saved"));
  });

  // The observation she is typing is a draft until she saves it. Saving it (the form, or a
  // quick mark) waits for a draft save on its way, so a late draft cannot bring back what
  // was just saved.
  var obs = document.querySelector("textarea[data-draft]");
  if (obs) {
    var draft = autosave(obs, obs.getAttribute("data-draft"), document.getElementById("obs-draft"));
    var form = obs.form, submitting = false;
    form.addEventListener("submit", function (e) {
      if (submitting) return;
      e.preventDefault();
      submitting = true;
      var submitter = e.submitter;
      // Out of this event: a form ignores requestSubmit while it dispatches its submit event.
      draft.stop(function () { setTimeout(function () { form.requestSubmit(submitter); }, 0); });
    });
  }

  // The sync bar, every 3 seconds. A locked tablet shows the PIN page.
  if (bar && !document.getElementById("unlock")) {
    setInterval(function () {
      fetch("/status?back=" + encodeURIComponent(window.location.pathname), { credentials: "same-origin" }).then(function (res) {
        // Locked: the draft she is typing is kept first (the app keeps it while locked).
        if (res.headers.get("X-Locked")) {
          if (draft) { draft.save(); draft.stop(function () { window.location.reload(); }); } else { window.location.reload(); }
          return;
        }
        return res.text().then(function (html) { if (res.ok) bar.innerHTML = html; });
      }).catch(function () {});
    }, 3000);
  }
})();
