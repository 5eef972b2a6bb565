// shopguard console: the little the pages need beyond htmx. No inline script anywhere
// (the Content-Security-Policy forbids it); everything is wired here by data attributes.
(function () {
  "use strict";

  var csrf = document.querySelector('meta[name="csrf-token"]');

  // The operator's time zone, for the server to write times in: taken from the browser
  // once, kept in a cookie (the preferences form can change it).
  if (document.cookie.indexOf("sg_tz=") < 0 && window.Intl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      document.cookie = "sg_tz=" + zone + "; Path=/console; SameSite=Strict; Max-Age=31536000";
    }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (csrf) {
      event.detail.headers["X-CSRF-Token"] = csrf.content;
    }
  });

  // Errors are answered as fragments meant to be shown where the answer would have gone.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 600 && status !== 401) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A compile error names a line and column: put the caret there when asked to check.
  var lastTrigger = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    lastTrigger = event.detail.elt;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var error = event.detail.target.querySelector("[data-line]");
    var source = document.getElementById("source");
    if (!source) {
      return;
    }
    source.setAttribute("aria-invalid", error ? "true" : "false");
    if (!error || lastTrigger === source) {
      return;
    }
    var line = parseInt(error.getAttribute("data-line"), 10);
    var column = parseInt(error.getAttribute("data-column"), 10) || 1;
    var lines = source.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) {
      offset += lines[i].length + 1;
    }
    offset += column - 1;
    source.focus();
    source.setSelectionRange(offset, offset + 1);
  });

  // The policy editor: TOML and the CEL inside its strings, highlighted in a layer under
  // the (transparent) text area, kept in step as one types and scrolls.
  var editor = document.getElementById("source");
  var layer = document.getElementById("source-highlight");
  if (editor && layer) {
    var escapeHtml = function (text) {
      return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    };
    var cel = function (text) {
      return escapeHtml(text).replace(
        /(\b(?:event|features|profile|lists)\b)|(\b(?:true|false|null|in|has|size|matches|in_list|timestamp|duration)\b)|(&amp;&amp;|\|\||==|!=|&gt;=|&lt;=|&gt;|&lt;|!)|(\b\d+(?:\.\d+)?\b)/g,
        function (all, root, word, operator, number) {
          var kind = root ? "h-root" : word ? "h-word" : operator ? "h-op" : "h-num";
          return '<span class="' + kind + '">' + all + "</span>";
        });
    };
    var line = function (text) {
      var header = /^\s*\[\[?[^\]]*\]\]?\s*$/.exec(text);
      if (header) {
        return '<span class="h-section">' + escapeHtml(text) + "</span>";
      }
      var out = "";
      var rest = text;
      var key = /^(\s*)([A-Za-z0-9_.-]+)(\s*=)/.exec(rest);
      if (key) {
        out += key[1] + '<span class="h-key">' + escapeHtml(key[2]) + "</span>" + key[3];
        rest = rest.slice(key[0].length);
      }
      var pattern = /("(?:[^"\\]|\\.)*"?|'[^']*'?)|(#.*$)/g;
      var last = 0;
      var match;
      while ((match = pattern.exec(rest)) !== null) {
        out += escapeHtml(rest.slice(last, match.index));
        if (match[1]) {
          out += '<span class="h-string">' + cel(match[1]) + "</span>";
        } else {
          out += '<span class="h-comment">' + escapeHtml(match[2]) + "</span>";
        }
        last = pattern.lastIndex;
      }
      return out + escapeHtml(rest.slice(last));
    };
    var paint = function () {
      layer.innerHTML = editor.value.split("\n").map(line).join("\n") + "\n";
      layer.parentNode.scrollTop = editor.scrollTop;
      layer.parentNode.scrollLeft = editor.scrollLeft;
    };
    // One repaint per frame however many input events arrive (a paste, a test's typing).
    var pending = false;
    editor.addEventListener("input", function () {
      if (!pending) {
        pending = true;
        window.requestAnimationFrame(function () {
          pending = false;
          paint();
        });
      }
    });
    editor.addEventListener("scroll", function () {
      layer.parentNode.scrollTop = editor.scrollTop;
      layer.parentNode.scrollLeft = editor.scrollLeft;
    });
    paint();
  }

  // The situation page: figures, charts and top rules follow the server's stream.
  var situation = document.getElementById("situation");
  if (situation && window.EventSource) {
    var lang = document.documentElement.lang || "en";
    var number = new Intl.NumberFormat(lang);
    var field = function (summary, path) {
      return path.split(".").reduce(function (value, key) {
        return value == null ? value : value[key];
      }, summary);
    };
    var svgNs = "http://www.w3.org/2000/svg";
    var draw = function (holder, values) {
      var svg = holder.querySelector("svg");
      if (!svg || values.length < 2) {
        return;
      }
      var width = parseFloat(svg.getAttribute("width"));
      var height = parseFloat(svg.getAttribute("height"));
      var top = Math.max(1, Math.max.apply(null, values));
      var step = width / (values.length - 1);
      var points = values.map(function (value, index) {
        return (index * step).toFixed(1) + "," + (height - 1 - (value / top) * (height - 2)).toFixed(1);
      }).join(" ");
      while (svg.firstChild) {
        svg.removeChild(svg.firstChild);
      }
      var area = document.createElementNS(svgNs, "polygon");
      area.setAttribute("class", "area");
      area.setAttribute("points", "0," + height + " " + points + " " + width + "," + height);
      var line = document.createElementNS(svgNs, "polyline");
      line.setAttribute("class", "line");
      line.setAttribute("points", points);
      svg.appendChild(area);
      svg.appendChild(line);
    };
    var source = new EventSource(situation.getAttribute("data-stream"));
    source.addEventListener("summary", function (message) {
      var summary = JSON.parse(message.data);
      var totals = summary.totals;
      var decided = totals.passed + totals.failed;
      summary.pass_rate = decided ? (totals.passed * 100 / decided).toFixed(1) + "%" : "–";
      situation.querySelectorAll("[data-field]").forEach(function (element) {
        var value = field(summary, element.getAttribute("data-field"));
        element.textContent = typeof value === "number" ? number.format(value) : value;
      });
      situation.querySelectorAll("[data-chart]").forEach(function (holder) {
        draw(holder, field(summary, holder.getAttribute("data-chart")) || []);
      });
      var body = situation.querySelector("#top-rules tbody");
      if (body && summary.top_rules.length) {
        var modes = body.closest("table").getAttribute("data-modes");
        body.textContent = "";
        summary.top_rules.forEach(function (rule) {
          var row = document.createElement("tr");
          [rule.rule, rule.shadow ? "shadow" : "enforce", number.format(rule.count)].forEach(function (text, index) {
            var cell = document.createElement("td");
            if (index === 0) {
              // Drill down: the decisions this rule matched.
              var link = document.createElement("a");
              link.href = "/console/decisions?rule_id=" + encodeURIComponent(rule.rule);
              link.textContent = text;
              cell.appendChild(link);
            } else {
              cell.textContent = index === 1 && modes ? modes.split("|")[rule.shadow ? 1 : 0] : text;
            }
            if (index === 2) {
              cell.className = "n";
            }
            row.appendChild(cell);
          });
          body.appendChild(row);
        });
      }
      situation.setAttribute("data-updated", String(Date.now()));
    });
  }
})();
