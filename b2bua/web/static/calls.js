// Live calls: refresh the table from /calls.json without reloading the page.
// Text only (textContent): nothing received is ever parsed as markup.
(function () {
  "use strict";
  var table = document.getElementById("calls");
  if (!table) { return; }
  var body = table.tBodies[0];
  var count = document.getElementById("calls-count");
  var every = parseInt(table.dataset.pollMs, 10) || 2000;
  var csrf = table.dataset.csrf;

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  // the "set code" form of a call; what the administrator is typing survives a refresh
  function codeForm(c, typing) {
    var td = document.createElement("td");
    var form = document.createElement("form");
    form.method = "post"; form.className = "inline";
    form.action = "/calls/" + encodeURIComponent(c.ref) + "/code";
    var token = document.createElement("input");
    token.type = "hidden"; token.name = "csrf"; token.value = csrf;
    var id = "code-" + c.ref.replace(/[^A-Za-z0-9_-]/g, "_");
    var label = document.createElement("label");
    label.className = "sr"; label.htmlFor = id; label.textContent = "Account code for the call from " + c.caller;
    var input = document.createElement("input");
    input.id = id; input.name = "code"; input.inputMode = "numeric"; input.size = 8; input.required = true;
    if (typing) { input.value = typing.value; }
    var button = document.createElement("button");
    button.type = "submit"; button.textContent = "Set code";
    form.appendChild(token); form.appendChild(label); form.appendChild(input); form.appendChild(button);
    td.appendChild(form);
    if (typing && typing.focused) { setTimeout(function () { input.focus(); }, 0); }
    return td;
  }

  function typing() {
    var out = {};
    Array.prototype.forEach.call(body.rows, function (tr) {
      var input = tr.querySelector("input[name=code]");
      if (input && (input.value || document.activeElement === input)) {
        out[tr.dataset.ref] = {value: input.value, focused: document.activeElement === input};
      }
    });
    return out;
  }

  function render(calls) {
    var typed = typing();
    var rows = [];
    calls.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.ref = c.ref;
      cell(tr, c.caller); cell(tr, c.dialed); cell(tr, c.destination); cell(tr, c.account_code);
      cell(tr, c.state); cell(tr, c.duration_s + " s"); cell(tr, c.cost + " " + c.currency);
      tr.appendChild(codeForm(c, typed[c.ref]));
      var td = document.createElement("td");
      var form = document.createElement("form");
      form.method = "post";
      form.action = "/calls/" + encodeURIComponent(c.ref) + "/end";
      var token = document.createElement("input");
      token.type = "hidden"; token.name = "csrf"; token.value = csrf;
      var button = document.createElement("button");
      button.type = "submit"; button.textContent = "End call";
      form.appendChild(token); form.appendChild(button); td.appendChild(form); tr.appendChild(td);
      rows.push(tr);
    });
    body.replaceChildren.apply(body, rows);
    count.textContent = calls.length + (calls.length === 1 ? " call" : " calls") + " in progress";
  }

  function poll() {
    fetch("/calls.json", {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) { render(data.calls); })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { setTimeout(poll, every); });
  }
  setTimeout(poll, every);
}());
