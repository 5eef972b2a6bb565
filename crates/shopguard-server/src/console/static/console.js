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
  // The audit log's proofs, checked here and not on the server (decision 0046): the leaf
  // hash, the root rebuilt from an inclusion proof (RFC 9162 §2.1.3.2), a consistency proof
  // between two trees (§2.1.4.2), all with SHA-256 from WebCrypto, and each checkpoint's
  // Ed25519 signature, also with WebCrypto. The page only hands over the data.
  var proofs = (function () {
    var subtle = window.crypto && window.crypto.subtle;
    var encoder = new TextEncoder();
    var Failure = function (message) {
      this.message = message;
    };
    var fail = function (message) {
      throw new Failure(message);
    };
    var hexToBytes = function (text, length, what) {
      if (typeof text !== "string" || text.length !== length * 2 || !/^[0-9a-f]*$/i.test(text)) {
        fail(what + " is not " + length + " bytes of hex");
      }
      var bytes = new Uint8Array(length);
      for (var i = 0; i < length; i++) {
        bytes[i] = parseInt(text.substr(i * 2, 2), 16);
      }
      return bytes;
    };
    var toHex = function (bytes) {
      return Array.prototype.map.call(new Uint8Array(bytes), function (byte) {
        return (byte < 16 ? "0" : "") + byte.toString(16);
      }).join("");
    };
    var integer = function (text, what) {
      if (!/^-?[0-9]+$/.test(text || "")) {
        fail(what + " is not an integer");
      }
      return BigInt(text);
    };
    var concat = function (parts) {
      var length = parts.reduce(function (sum, part) { return sum + part.length; }, 0);
      var out = new Uint8Array(length);
      var at = 0;
      parts.forEach(function (part) { out.set(part, at); at += part.length; });
      return out;
    };
    var sha256 = function (bytes) {
      return subtle.digest("SHA-256", bytes).then(function (digest) {
        return new Uint8Array(digest);
      });
    };
    var node = function (left, right) {
      return sha256(concat([new Uint8Array([1]), left, right]));
    };
    var bigEndian = function (value, what) {
      // 8 bytes, two's complement for negative times.
      var bytes = new Uint8Array(8);
      var unsigned = BigInt.asUintN(64, value);
      if (BigInt.asIntN(64, value) !== value && unsigned !== value) {
        fail(what + " does not fit in 64 bits");
      }
      for (var i = 7; i >= 0; i--) {
        bytes[i] = Number(unsigned & 255n);
        unsigned >>= 8n;
      }
      return bytes;
    };
    var path = function (text) {
      return text ? text.split(",").map(function (hash, index) {
        return hexToBytes(hash, 32, "proof hash " + (index + 1));
      }) : [];
    };
    var same = function (a, b) {
      return toHex(a) === toHex(b);
    };
    // leaf data = seq (u64 BE) ‖ at_ms (i64 BE) ‖ class code (u8) ‖ commitment; leaf = H(0 ‖ data).
    var leafHash = function (data) {
      var seq = integer(data.seq, "the sequence number");
      var code = Number(integer(data.classCode, "the class code"));
      if (code < 0 || code > 255) {
        fail("the class code is not a byte");
      }
      var leaf = concat([new Uint8Array([0]), bigEndian(seq, "the sequence number"),
        bigEndian(integer(data.atMs, "the time"), "the time"), new Uint8Array([code]),
        hexToBytes(data.commitment, 32, "the commitment")]);
      return sha256(leaf);
    };
    var rootFromInclusion = async function (index, size, leaf, hashes) {
      if (index >= size) {
        fail("entry " + index + " is not in a tree of " + size + " entries");
      }
      var fn = index;
      var sn = size - 1n;
      var r = leaf;
      for (var i = 0; i < hashes.length; i++) {
        var p = hashes[i];
        if (sn === 0n) {
          fail("the proof is longer than the tree is deep");
        }
        if ((fn & 1n) === 1n || fn === sn) {
          r = await node(p, r);
          if ((fn & 1n) === 0n) {
            while ((fn & 1n) === 0n && fn !== 0n) {
              fn >>= 1n;
              sn >>= 1n;
            }
          }
        } else {
          r = await node(r, p);
        }
        fn >>= 1n;
        sn >>= 1n;
      }
      if (sn !== 0n) {
        fail("the proof is shorter than the tree is deep");
      }
      return r;
    };
    var checkConsistency = async function (first, second, firstRoot, secondRoot, hashes) {
      if (first > second) {
        fail("the first tree is larger than the second");
      }
      if (first === second) {
        if (hashes.length !== 0) {
          fail("equal trees need an empty proof");
        }
        if (!same(firstRoot, secondRoot)) {
          fail("equal sizes but different roots");
        }
        return;
      }
      if (first === 0n) {
        return;
      }
      if (hashes.length === 0) {
        fail("the proof is empty");
      }
      if ((first & (first - 1n)) === 0n) {
        hashes = [firstRoot].concat(hashes);
      }
      var fn = first - 1n;
      var sn = second - 1n;
      while ((fn & 1n) === 1n) {
        fn >>= 1n;
        sn >>= 1n;
      }
      var fr = hashes[0];
      var sr = hashes[0];
      for (var i = 1; i < hashes.length; i++) {
        var c = hashes[i];
        if (sn === 0n) {
          fail("the proof is longer than the tree is deep");
        }
        if ((fn & 1n) === 1n || fn === sn) {
          fr = await node(c, fr);
          sr = await node(c, sr);
          if ((fn & 1n) === 0n) {
            while ((fn & 1n) === 0n && fn !== 0n) {
              fn >>= 1n;
              sn >>= 1n;
            }
          }
        } else {
          sr = await node(sr, c);
        }
        fn >>= 1n;
        sn >>= 1n;
      }
      if (sn !== 0n) {
        fail("the proof is shorter than the tree is deep");
      }
      if (!same(fr, firstRoot)) {
        fail("the proof rebuilds " + toHex(fr) + " for the first tree, its checkpoint signs " + toHex(firstRoot));
      }
      if (!same(sr, secondRoot)) {
        fail("the proof rebuilds " + toHex(sr) + " for the second tree, its checkpoint signs " + toHex(secondRoot));
      }
    };
    // A checkpoint signs "shopguard audit checkpoint v1\n{size}\n{root hex}\n{at_ms}\n".
    var checkSignature = async function (publicKey, size, root, atMs, signature, what) {
      var key;
      try {
        key = await subtle.importKey("raw", hexToBytes(publicKey, 32, "the public key"),
          { name: "Ed25519" }, false, ["verify"]);
      } catch (error) {
        if (error instanceof Failure) {
          throw error;
        }
        fail("this browser cannot check Ed25519 signatures (" + error.message + ")");
      }
      var message = encoder.encode("shopguard audit checkpoint v1\n" + size.toString() + "\n" +
        toHex(root) + "\n" + atMs.toString() + "\n");
      var good = await subtle.verify({ name: "Ed25519" }, key,
        hexToBytes(signature, 64, what + "'s signature"), message);
      if (!good) {
        fail(what + "'s signature does not verify with key " + publicKey);
      }
    };
    // The key the auditor chose to trust in this browser, if any: a different key fails.
    var checkPinned = function (publicKey) {
      var pinned = null;
      try {
        pinned = window.localStorage.getItem("sg_audit_key");
      } catch (error) {
        pinned = null;
      }
      if (pinned && pinned !== publicKey) {
        fail("the server's key " + publicKey + " is not the key you trusted in this browser (" + pinned + ")");
      }
    };
    var inclusion = async function (data) {
      checkPinned(data.publicKey);
      var size = integer(data.size, "the checkpoint's size");
      var root = hexToBytes(data.root, 32, "the checkpoint's root");
      await checkSignature(data.publicKey, size, root, integer(data.checkpointAtMs, "the checkpoint's time"),
        data.signature, "the checkpoint");
      var leaf = await leafHash(data);
      var rebuilt = await rootFromInclusion(integer(data.seq, "the sequence number"), size, leaf, path(data.proof));
      if (!same(rebuilt, root)) {
        fail("the proof rebuilds root " + toHex(rebuilt) + " from leaf " + toHex(leaf) +
          ", the checkpoint signs " + toHex(root));
      }
      return toHex(root);
    };
    var consistency = async function (data) {
      checkPinned(data.publicKey);
      var first = integer(data.firstSize, "the first size");
      var second = integer(data.secondSize, "the second size");
      var firstRoot = hexToBytes(data.firstRoot, 32, "the first root");
      var secondRoot = hexToBytes(data.secondRoot, 32, "the second root");
      await checkSignature(data.publicKey, first, firstRoot, integer(data.firstAtMs, "the first time"),
        data.firstSignature, "the first checkpoint");
      await checkSignature(data.publicKey, second, secondRoot, integer(data.secondAtMs, "the second time"),
        data.secondSignature, "the second checkpoint");
      await checkConsistency(first, second, firstRoot, secondRoot, path(data.proof));
      return toHex(secondRoot);
    };
    return {
      available: function () { return !!subtle && typeof BigInt === "function"; },
      run: function (data) {
        return (data.kind === "inclusion" ? inclusion(data) : consistency(data));
      },
      Failure: Failure,
    };
  })();

  // "Trust this key in this browser": later proofs must be signed by it.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-pin-key]");
    if (!button) {
      return;
    }
    var box = button.closest("[data-kind]");
    try {
      window.localStorage.setItem("sg_audit_key", box.getAttribute("data-public-key"));
      button.setAttribute("data-pinned", "true");
      button.textContent = button.getAttribute("data-text-pinned");
    } catch (error) {
      button.textContent = String(error);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-verify-proof]");
    if (!button) {
      return;
    }
    var box = button.closest("[data-kind]");
    var out = box.querySelector("[data-proof-result]");
    out.className = "proof-result";
    out.removeAttribute("data-verdict");
    if (!proofs.available()) {
      out.textContent = out.getAttribute("data-text-no-crypto");
      out.classList.add("error");
      out.setAttribute("data-verdict", "failed");
      return;
    }
    var run;
    try {
      run = proofs.run(box.dataset);
    } catch (error) {
      run = Promise.reject(error);
    }
    run.then(function (root) {
      out.textContent = out.getAttribute("data-text-ok") + " (" + root + ")";
      out.classList.add("ok");
      out.setAttribute("data-verdict", "verified");
    }, function (error) {
      out.textContent = out.getAttribute("data-text-failed") + ": " + (error && error.message || String(error));
      out.classList.add("error");
      out.setAttribute("data-verdict", "failed");
    });
  });
  // A list import: the file chosen is read here and sent as the form's text; a file over the
  // console's limit is refused before anything is sent.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!form || form.id !== "import-form") {
      return;
    }
    event.preventDefault();
    var input = form.querySelector("[data-import-file]");
    var text = form.querySelector("[data-import-text]");
    var result = document.getElementById("import-result");
    var file = input && input.files && input.files[0];
    if (!file) {
      return;
    }
    if (file.size > parseInt(form.getAttribute("data-import-max"), 10)) {
      result.textContent = "";
      var message = document.createElement("p");
      message.className = "error";
      message.setAttribute("role", "alert");
      message.textContent = form.getAttribute("data-text-too-large");
      result.appendChild(message);
      return;
    }
    file.text().then(function (content) {
      text.value = content;
      event.detail.issueRequest(true);
    });
  });
})();
