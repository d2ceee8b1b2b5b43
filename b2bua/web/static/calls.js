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

  function render(calls) {
    var rows = [];
    calls.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.ref = c.ref;
      cell(tr, c.caller); cell(tr, c.dialed); cell(tr, c.destination); cell(tr, c.account_code);
      cell(tr, c.state); cell(tr, c.duration_s + " s");
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
