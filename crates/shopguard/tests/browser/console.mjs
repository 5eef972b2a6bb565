// Browser tests of the shopguard console, in Debian's Chromium through playwright-core.
// Run by crates/shopguard/tests/console.rs, which starts the real binary, creates the
// operators and passes everything in the environment:
//   SG_URL          the server's base URL
//   SG_API_KEY      an administrator API key (to send events)
//   SG_OPERATORS    JSON: { name: { password, secret } } (secret in base32)
//   SG_SCREENSHOTS  a folder for screenshots (optional)
//   SG_CHROMIUM     the browser (default /usr/bin/chromium)
// Each check prints "ok - name" or throws; the process exits non-zero on the first failure.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";

const base = process.env.SG_URL;
const apiKey = process.env.SG_API_KEY;
const operators = JSON.parse(process.env.SG_OPERATORS);
const shots = process.env.SG_SCREENSHOTS || "";
if (shots) mkdirSync(shots, { recursive: true });

function fail(message) {
  throw new Error(message);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret; written here so the test does
// not trust the server's own implementation.
function totp(secret, unixSeconds) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of secret.replace(/=+$/, "").toUpperCase()) {
    const value = alphabet.indexOf(char);
    if (value < 0) fail(`bad base32 in secret: ${char}`);
    bits += value.toString(2).padStart(5, "0");
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, "0");
}

async function sendEvent(event) {
  const response = await fetch(`${base}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(event),
  });
  const body = await response.json();
  expect(response.status === 200, `event refused: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.SG_CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});

// Each operator gets their own browser context (cookies), in the language asked for.
async function signIn(name, locale = "en-GB") {
  const context = await browser.newContext({
    locale,
    viewport: { width: 1280, height: 900 },
    extraHTTPHeaders: { "accept-language": locale },
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  await page.goto(`${base}/console/situation`);
  expect(page.url().includes("/console/login"), `not sent to the login page: ${page.url()}`);
  const operator = operators[name];
  await page.fill('input[name="username"]', name);
  await page.fill('input[name="password"]', operator.password);
  await page.fill('input[name="code"]', totp(operator.secret, Date.now() / 1000));
  await Promise.all([page.waitForNavigation(), page.click(".login button")]);
  expect(page.url().endsWith("/console/situation"), `${name} not signed in: ${page.url()}`);
  return { context, page, problems };
}

const results = [];
async function check(name, body) {
  await body();
  results.push(name);
  console.log(`ok - ${name}`);
}

try {
  let analyst;
  await check("a wrong code is refused and the form says why", async () => {
    const context = await browser.newContext({ locale: "en-GB" });
    const page = await context.newPage();
    await page.goto(`${base}/console/login`);
    await page.fill('input[name="username"]', "ana");
    await page.fill('input[name="password"]', operators.ana.password);
    await page.fill('input[name="code"]', "000000");
    await page.click(".login button");
    await page.waitForSelector(".error");
    expect((await page.textContent(".error")).includes("wrong code"), "no refusal shown");
    await shot(page, "login");
    await context.close();
  });

  await check("an analyst signs in with password and TOTP; the session cookie is HttpOnly and SameSite=Strict", async () => {
    analyst = await signIn("ana");
    const cookies = await analyst.context.cookies();
    const session = cookies.find((cookie) => cookie.name === "sg_session");
    expect(session, "no session cookie");
    expect(session.httpOnly, "session cookie readable by scripts");
    expect(session.sameSite === "Strict", `SameSite=${session.sameSite}`);
    const response = await analyst.page.goto(`${base}/console/situation`);
    const policy = response.headers()["content-security-policy"] || "";
    expect(policy.includes("script-src 'self'") && !policy.includes("unsafe-inline"), `CSP: ${policy}`);
  });

  await check("the situation view updates while events are sent", async () => {
    const page = analyst.page;
    const before = Number((await page.textContent('[data-field="totals.events"]')).replace(/[^0-9]/g, ""));
    for (let i = 0; i < 30; i++) {
      await sendEvent({ kind: "login_succeeded", user_id: `shopper${i % 5}`, ip: `203.0.113.${i % 7 + 1}`, device_id: `dev-${i % 3}` });
    }
    await page.waitForFunction(
      (seen) => Number(document.querySelector('[data-field="totals.events"]').textContent.replace(/[^0-9]/g, "")) >= seen + 30,
      before,
      { timeout: 8000 },
    );
    await shot(page, "situation");
  });

  let decisionId;
  let auditorSession;
  await check("a decision is found by user and opened", async () => {
    const page = analyst.page;
    await page.goto(`${base}/console/decisions`);
    await page.fill('input[name="user_id"]', "shopper1");
    await Promise.all([page.waitForNavigation(), page.click(".filters button")]);
    const rows = await page.$$("#decisions tbody tr");
    expect(rows.length >= 1, "no decision listed for shopper1");
    await shot(page, "decisions");
    await Promise.all([page.waitForNavigation(), page.click("#decisions tbody tr td a")]);
    expect(page.url().includes("/console/decisions/"), `not on a decision: ${page.url()}`);
    decisionId = page.url().split("/").pop();
    expect((await page.textContent("h1")).includes(decisionId), "decision id not shown");
    await page.waitForSelector("#matched");
    await shot(page, "decision");
  });

  await check("an unmask is an explicit click, and it is recorded in the audit log", async () => {
    const sent = await sendEvent({ kind: "register", user_id: "newcomer", ip: "198.51.100.23", email: "newcomer@example.com", phone: "+8613812345678" });
    const page = analyst.page;
    await page.goto(`${base}/console/decisions/${sent.decision_id}`);
    const masked = await page.textContent("pre.json");
    expect(!masked.includes("newcomer@example.com"), "email shown before unmasking");
    await Promise.all([page.waitForNavigation(), page.click("#unmask")]);
    expect((await page.textContent("pre.json")).includes("newcomer@example.com"), "email not shown after unmasking");
    expect(await page.$("#unmasked"), "no notice that the view was recorded");
    const auditor = await signIn("aud");
    await auditor.page.goto(`${base}/console/audit?action=pii.unmask`);
    const entries = await auditor.page.textContent("#audit-entries");
    expect(entries.includes(`decision:${sent.decision_id}`) && entries.includes("operator:ana"), "unmask not in the audit log");
    await Promise.all([
      auditor.page.waitForSelector("[data-verify]"),
      auditor.page.click("#verify-button"),
    ]);
    expect(await auditor.page.$('[data-verify="intact"]'), "audit log does not verify");
    await shot(auditor.page, "audit");
    // Kept for the proofs below: a TOTP code works once, so the auditor signs in once.
    auditorSession = auditor;
  });

  await check("an audit entry's inclusion proof and the consistency of two checkpoints are verified in the browser; a tampered proof fails; the retention report is shown", async () => {
    // Two signed checkpoints (an administrator's API key), so both proofs have something to rest on.
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${base}/v1/audit/checkpoints`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(response.status === 200, `checkpoint refused: ${response.status}`);
    }
    const auditor = auditorSession;
    const page = auditor.page;
    await page.goto(`${base}/console/audit?action=pii.unmask`);
    await page.click("#audit-entries [data-proof-seq]");
    await page.waitForSelector('#inclusion-proof[data-kind="inclusion"]');
    await page.click("#verify-inclusion");
    await page.waitForSelector("#inclusion-proof [data-verdict]");
    const verdict = await page.getAttribute("#inclusion-proof [data-proof-result]", "data-verdict");
    const said = await page.textContent("#inclusion-proof [data-proof-result]");
    expect(verdict === "verified" && said.includes("Verified in your browser"), `inclusion not verified: ${said}`);
    await shot(page, "audit-proof");
    // Tamper with what the server handed over: the browser must notice.
    const commitment = await page.getAttribute("#inclusion-proof", "data-commitment");
    const flipped = (commitment[0] === "0" ? "1" : "0") + commitment.slice(1);
    await page.evaluate((value) => document.getElementById("inclusion-proof").setAttribute("data-commitment", value), flipped);
    await page.click("#verify-inclusion");
    await page.waitForFunction(() => document.querySelector("#inclusion-proof [data-proof-result]").getAttribute("data-verdict") === "failed");
    expect((await page.textContent("#inclusion-proof [data-proof-result]")).includes("rebuilds root"), "the tampered leaf's failure is not explained");
    // A forged signature fails too, with the leaf restored.
    await page.evaluate((value) => {
      const box = document.getElementById("inclusion-proof");
      box.setAttribute("data-commitment", value);
      const signature = box.getAttribute("data-signature");
      box.setAttribute("data-signature", (signature[0] === "0" ? "1" : "0") + signature.slice(1));
    }, commitment);
    await page.click("#verify-inclusion");
    await page.waitForFunction(() => document.querySelector("#inclusion-proof [data-proof-result]").textContent.includes("signature does not verify"));
    // The auditor trusts the key in this browser; a proof under another key then fails.
    const key = await page.getAttribute("#inclusion-proof", "data-public-key");
    await page.click("#pin-key-inclusion");
    await page.evaluate((value) => document.getElementById("inclusion-proof").setAttribute("data-public-key", value),
      (key[0] === "0" ? "1" : "0") + key.slice(1));
    await page.click("#verify-inclusion");
    await page.waitForFunction(() => document.querySelector("#inclusion-proof [data-proof-result]").textContent.includes("not the key you trusted"));
    // Consistency between the two checkpoints the form offers first.
    await page.click("#consistency-button");
    await page.waitForSelector('#consistency-proof[data-kind="consistency"]');
    await page.click("#verify-consistency");
    await page.waitForSelector("#consistency-proof [data-verdict]");
    const consistent = await page.getAttribute("#consistency-proof [data-proof-result]", "data-verdict");
    expect(consistent === "verified", `consistency not verified: ${await page.textContent("#consistency-proof [data-proof-result]")}`);
    await page.evaluate(() => {
      const box = document.getElementById("consistency-proof");
      const proof = box.getAttribute("data-proof");
      box.setAttribute("data-proof", (proof[0] === "0" ? "1" : "0") + proof.slice(1));
    });
    await page.click("#verify-consistency");
    await page.waitForFunction(() => document.querySelector("#consistency-proof [data-proof-result]").getAttribute("data-verdict") === "failed");
    // Sizes that no checkpoint has are refused, in place.
    const unsigned = await page.request.get(`${base}/console/audit/consistency?from=1&to=2`, { headers: { "hx-request": "true" } });
    expect(unsigned.status() === 404 && (await unsigned.text()).includes("no signed checkpoint"), `unsigned sizes answered ${unsigned.status()}`);
    const retention = await page.textContent("#retention");
    expect(retention.includes("login") && retention.includes("long-term") && retention.includes("days"), `retention report: ${retention}`);
    // The auditor's start page (the situation) is refused to them (403), which the browser logs.
    const scriptErrors = auditor.problems.filter((problem) => !problem.includes("status of 403"));
    expect(scriptErrors.length === 0, `script errors: ${scriptErrors.join("; ")}`);
    await auditor.context.close();
  });

  await check("a list is imported from a file: the counts and refused lines are shown and the entries appear", async () => {
    const page = analyst.page;
    await page.goto(`${base}/console/lists/ip_block`);
    const text = "# from the browser test\n192.0.2.161\n192.0.2.162\nnot-an-address\n\n192.0.2.163\n";
    await page.setInputFiles("#import-file", { name: "block.txt", mimeType: "text/plain", buffer: Buffer.from(text) });
    await page.fill('#import-form input[name="reason"]', "imported from the browser test");
    await page.fill('#import-form input[name="hours"]', "2");
    await page.click("#import-button");
    await page.waitForSelector("#import-added");
    expect((await page.textContent("#import-added")).trim() === "3", `added ${await page.textContent("#import-added")}`);
    expect((await page.textContent("#import-refused")).trim() === "1", `refused ${await page.textContent("#import-refused")}`);
    expect((await page.textContent("#import-invalid")).includes("4"), "the refused line's number is not shown");
    await shot(page, "list-import");
    // Over the console's 8 MiB: refused in the page before sending, and by the server.
    const tooLarge = Buffer.alloc(8 * 1024 * 1024 + 1, "a");
    await page.setInputFiles("#import-file", { name: "huge.txt", mimeType: "text/plain", buffer: tooLarge });
    await page.click("#import-button");
    await page.waitForFunction(() => document.querySelector("#import-result").textContent.includes("8 MiB"));
    const csrf = await page.getAttribute('meta[name="csrf-token"]', "content");
    const refused = await page.request.post(`${base}/console/lists/ip_block/import`, {
      form: { csrf, text: tooLarge.toString(), reason: "too large" },
      headers: { "hx-request": "true" },
    });
    expect(refused.status() === 400 && (await refused.text()).includes("8 MiB"), `an oversized import answered ${refused.status()}`);
    await page.goto(`${base}/console/lists/ip_block?q=192.0.2.16`);
    const entries = await page.textContent("#entries");
    expect(["192.0.2.161", "192.0.2.162", "192.0.2.163"].every((ip) => entries.includes(ip)) && entries.includes("imported from the browser test"),
      `imported entries not listed: ${entries}`);
  });

  await check("a large import becomes a task whose progress the list page follows until it ends", async () => {
    const page = analyst.page;
    await page.goto(`${base}/console/lists/ip_watch`);
    const count = 100_050; // over the 100,000 lines answered at once
    const lines = [];
    for (let i = 0; i < count; i++) lines.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    await page.setInputFiles("#import-file", { name: "watch.txt", mimeType: "text/plain", buffer: Buffer.from(lines.join("\n")) });
    await page.fill('#import-form input[name="reason"]', "a large import from the browser test");
    await page.click("#import-button");
    await page.waitForSelector("#import-progress");
    expect(await page.getAttribute("#import-progress", "data-import-state") === "running", "a large import was not queued");
    expect(await page.$('#import-progress a[href="/console/tasks"]'), "no link to the tasks page");
    await page.waitForSelector('#import-progress[data-import-state="ended"]', { timeout: 90_000 });
    const added = (await page.textContent("#import-added")).replace(/[^0-9]/g, "");
    expect(added === String(count), `the task added ${added}: ${await page.textContent("#import-progress")}`);
    expect((await page.textContent("#import-progress")).includes("succeeded"), "the task did not succeed");
  });

  await check("a challenged decision shows the result the platform reported, and one without a report says so", async () => {
    const challenged = [];
    for (let i = 0; i < 9 && challenged.length < 2; i++) {
      const decided = await sendEvent({ kind: "login_failed", user_id: "challenged-shopper", ip: "203.0.113.201" });
      if (decided.outcome === "challenge") challenged.push(decided.decision_id);
    }
    expect(challenged.length === 2, `no two challenges: ${challenged}`);
    const response = await fetch(`${base}/v1/decisions/${challenged[0]}/challenge`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ passed: true }),
    });
    expect(response.status === 200, `challenge result refused: ${response.status} ${await response.text()}`);
    const page = analyst.page;
    let shown = "";
    for (let attempt = 0; attempt < 20 && !shown.includes("passed"); attempt++) {
      if (attempt) await page.waitForTimeout(250);
      const opened = await page.goto(`${base}/console/decisions/${challenged[0]}`);
      if (opened.status() === 200) shown = await page.textContent("#challenge-result");
    }
    expect(shown.includes("captcha") && shown.includes("passed"), `challenge result not shown: ${shown}`);
    await shot(page, "decision-challenge");
    await Promise.all([page.waitForNavigation(), page.click("#challenge-result a")]);
    expect((await page.textContent("#challenged-decision")).includes(challenged[0]), "the report does not link back to the challenged decision");
    await page.goto(`${base}/console/decisions/${challenged[1]}`);
    expect((await page.textContent("#challenge-result")).includes("no result reported"), "a decision without a report does not say so");
  });

  await check("a list entry added from an entity page is then seen in a decision", async () => {
    const page = analyst.page;
    await page.goto(`${base}/console/entity/ip/192.0.2.77`);
    await page.selectOption('#add-to-list select[name="list"]', "ip_block");
    await page.fill('#add-to-list input[name="reason"]', "seen in a card-testing run");
    await page.fill('#add-to-list input[name="hours"]', "24");
    await Promise.all([page.waitForNavigation(), page.click("#add-to-list button")]);
    expect((await page.textContent("#memberships")).includes("ip_block"), "ip_block not listed on the entity page");
    await shot(page, "entity");
    const decided = await sendEvent({ kind: "login_succeeded", user_id: "shopper9", ip: "192.0.2.77" });
    expect(decided.outcome === "deny", `outcome ${decided.outcome} for a blocked IP`);
    await page.goto(`${base}/console/decisions/${decided.decision_id}`);
    expect((await page.textContent("#matched")).includes("blocked_ip"), "blocked_ip not among the matched rules");
    // Drill down from the situation's top rules to the decisions of one rule, with a total.
    await page.goto(`${base}/console/situation`);
    // The denied IP, its /24 and its user are among the top entities by denials.
    await page.waitForSelector('#top-entities [data-top="done"]');
    expect((await page.textContent("#top-ip")).includes("192.0.2.77"), "the denied IP is not among the top entities");
    expect((await page.textContent("#top-network")).includes("192.0.2.0/24"), "its /24 is not among the top networks");
    expect((await page.textContent("#top-user_id")).includes("shopper9"), "its user is not among the top users");
    await shot(page, "situation-top-entities");
    const ruleLink = await page.waitForSelector('#top-rules a[href="/console/decisions?rule_id=blocked_ip"]', { timeout: 8000 });
    await Promise.all([page.waitForNavigation(), ruleLink.click()]);
    expect(Number((await page.textContent("#decisions-total")).replace(/[^0-9]/g, "")) >= 1, "no total for the rule's decisions");
    expect((await page.textContent("#decisions")).includes("blocked_ip"), "the rule's decisions are not listed");
    // The user's page: their profile and the live policy's velocity values for them.
    await sendEvent({ kind: "login_failed", user_id: "shopper9", ip: "198.51.100.7", failure_reason: "bad_password" });
    await page.goto(`${base}/console/entity/user/shopper9`);
    expect(await page.$("#entity-profile"), "no profile for shopper9, who has logged in");
    const velocity = await page.textContent("#entity-velocity");
    const failures = await page.$$eval("#entity-velocity tr[data-feature]", (rows) =>
      rows.map((row) => [row.dataset.feature, row.querySelector("td:last-child").textContent.trim()]));
    expect(failures.some(([name, value]) => name.includes("fail") && Number(value) >= 1), `no failed-login count for shopper9: ${velocity}`);
    await shot(page, "entity-user");
    await page.goto(`${base}/console/lists/ip_block?q=192.0.2.77`);
    const entries = await page.textContent("#entries");
    expect(entries.includes("operator:ana") && entries.includes("card-testing"), "who added it and why not shown");
  });

  await check("an alert raised by a rule is acknowledged, taken and noted in the queue", async () => {
    // A password spray from one address: the 30th failure denies, blocks the IP and alerts.
    for (let i = 0; i < 31; i++) {
      await sendEvent({ kind: "login_failed", user_id: `victim${i}`, ip: "198.51.100.99" });
    }
    const page = analyst.page;
    let found = false;
    for (let attempt = 0; attempt < 20 && !found; attempt++) {
      await page.goto(`${base}/console/alerts`);
      found = (await page.textContent("main")).includes("password_spray_from_ip");
      if (!found) await page.waitForTimeout(250);
    }
    expect(found, "the spray's alert is not in the queue");
    await shot(page, "alerts");
    await Promise.all([page.waitForNavigation(), page.click("#alerts tbody tr td a")]);
    await Promise.all([page.waitForNavigation(), page.click("#alert-acknowledge")]);
    expect((await page.textContent("#alert-status")).includes("acknowledged"), "not acknowledged");
    await Promise.all([page.waitForNavigation(), page.click("#alert-take")]);
    expect((await page.textContent("#alert-assignee")).includes("ana"), "not assigned to ana");
    await page.fill('textarea[name="reason"]', "spray from a hosting range; IP blocked for an hour by the rule");
    await Promise.all([page.waitForNavigation(), page.click("#alert-note")]);
    expect((await page.textContent("#alert-notes")).includes("hosting range"), "note not shown");
    await shot(page, "alert");
  });

  await check("an incident is reported, triaged and graded by the standard's matrix with its clause, and every change is in its history", async () => {
    const page = analyst.page;
    await page.goto(`${base}/console/incidents`);
    await Promise.all([page.waitForNavigation(), page.click("#report-incident")]);
    await page.fill('#incident-report input[name="title"]', "Credential stuffing against the login");
    await page.selectOption('#incident-report select[name="category"]', "account_theft");
    await page.fill('#incident-report textarea[name="description"]', "Many accounts taken over from one /24.");
    await page.check('#incident-report input[name="unsure_of_level"]');
    await Promise.all([page.waitForNavigation(), page.click("#submit-report")]);
    expect(/\/console\/incidents\/\d+$/.test(page.url()), `not on the incident's page: ${page.url()}`);
    await page.selectOption('#triage-form select[name="verdict"]', "true_positive");
    await page.fill('#triage-form input[name="reason"]', "confirmed in the decision log");
    await Promise.all([page.waitForNavigation(), page.click("#triage-form button")]);
    expect((await page.getAttribute("#incident-facts [data-status]", "data-status")) === "triaged", "not triaged");
    await page.selectOption('#grade-form select[name="importance"]', "particularly_important");
    await page.selectOption('#grade-form select[name="loss"]', "serious");
    await page.fill('#grade-form input[name="affected_users"]', "1200");
    await page.fill('#grade-form input[name="platform_users"]', "1000000");
    await Promise.all([page.waitForNavigation(), page.click("#grade-form button")]);
    const level = await page.textContent("#incident-level");
    expect(level.includes("level II"), `a particularly important system with a serious loss is level II, not ${level}`);
    expect((await page.textContent("#grade-reasons")).includes("§6.4.3 a"), "the clause that decided is not shown");
    const history = await page.textContent("#incident-history");
    expect(history.includes("incident.report") && history.includes("incident.triage") && history.includes("incident.grade"), `history: ${history}`);
    await shot(page, "incident");
    // A stale form (the version read before the grade) is refused, not applied.
    await page.goBack();
    await page.goBack();
    const stale = await page.request.post(`${page.url()}`, { form: {
      csrf: await page.getAttribute('#transition-form input[name="csrf"]', "value"),
      version: "1", action: "transition", to: "responding", reason: "" } });
    expect(stale.status() === 409, `a stale version answered ${stale.status()}`);
    await page.goto(`${base}/console/incidents`);
    expect((await page.textContent("#incidents")).includes("Credential stuffing"), "the queue does not list it");
  });

  await check("a forged request without the CSRF token is refused", async () => {
    const response = await analyst.page.request.post(`${base}/console/lists/ip_block/add`, {
      form: { csrf: "0".repeat(64), value: "192.0.2.200", reason: "forged" },
      maxRedirects: 0,
    });
    expect(response.status() === 403, `forged form answered ${response.status()}`);
    const forgedImport = await analyst.page.request.post(`${base}/console/lists/ip_block/import`, {
      form: { csrf: "0".repeat(64), text: "192.0.2.202\n", reason: "forged" },
      maxRedirects: 0,
    });
    expect(forgedImport.status() === 403, `forged import answered ${forgedImport.status()}`);
  });

  await check("a viewer sees no edit control and is refused a forged edit", async () => {
    const viewer = await signIn("vic");
    await viewer.page.goto(`${base}/console/lists/ip_block`);
    expect(!(await viewer.page.$("form.add-entry")), "viewer sees the add form");
    await viewer.page.goto(`${base}/console/policy`);
    expect(!(await viewer.page.$('a[href="/console/policy/edit"]')), "viewer sees the edit link");
    const csrf = await viewer.page.getAttribute('meta[name="csrf-token"]', "content");
    const response = await viewer.page.request.post(`${base}/console/lists/ip_block/add`, {
      form: { csrf, value: "192.0.2.201", reason: "forged by a viewer" },
      maxRedirects: 0,
    });
    expect(response.status() === 403, `viewer's forged edit answered ${response.status()}`);
    expect(!(await viewer.page.$("#import-form")), "viewer sees the import form");
    const imported = await viewer.page.request.post(`${base}/console/lists/ip_block/import`, {
      form: { csrf, text: "192.0.2.203\n", reason: "forged by a viewer" },
      maxRedirects: 0,
    });
    expect(imported.status() === 403, `viewer's forged import answered ${imported.status()}`);
    const proof = await viewer.page.request.get(`${base}/console/audit/entries/0/proof`);
    expect(proof.status() === 403, `viewer got an audit proof: ${proof.status()}`);
    const editor = await viewer.page.goto(`${base}/console/policy/edit`);
    expect(editor.status() === 403, `viewer opened the editor: ${editor.status()}`);
    await viewer.context.close();
  });

  await check("a rule edited with a syntax error shows it at its position; fixed, replayed against logged traffic, submitted, approved by a second operator, live", async () => {
    const author = await signIn("rita");
    const page = author.page;
    await page.goto(`${base}/console/policy/edit`);
    await page.waitForSelector('#check [data-check="ok"]');
    const live = await page.inputValue("#source");
    const broken = `${live}\n[[rules]]\nid = "browser_test_rule"\nwhen = "event.user_id == > 'mallory'"\noutcome = "deny"\nscore = 90\nreason = "the browser test's rule"\n`;
    await page.fill("#source", broken);
    await page.click("#check-button");
    await page.waitForSelector('#check [data-check="error"]');
    const error = await page.$('#check [data-line]');
    const line = Number(await error.getAttribute("data-line"));
    const expected = broken.split("\n").findIndex((text) => text.startsWith('when = "event.user_id == >')) + 1;
    expect(line === expected, `error placed at line ${line}, expected ${expected}`);
    const caret = await page.evaluate(() => document.getElementById("source").selectionStart);
    const lineStart = broken.split("\n").slice(0, expected - 1).join("\n").length + 1;
    expect(caret >= lineStart && caret < lineStart + 40, `caret at ${caret}, line starts at ${lineStart}`);
    await shot(page, "policy-error");
    await page.fill("#source", broken.replace("== > 'mallory'", "== 'mallory'"));
    await page.click("#check-button");
    await page.waitForSelector('#check [data-check="ok"]');
    // Replayed against logged traffic before submitting: mallory's logged login would now be denied.
    await sendEvent({ kind: "login_succeeded", user_id: "mallory", ip: "203.0.113.49" });
    await page.click("#replay");
    await page.waitForSelector('#replay-result [data-replay="done"]');
    const changed = Number(await page.getAttribute("#replay-result [data-replay]", "data-changed"));
    expect(changed >= 1, `the replay shows ${changed} changed decisions`);
    const started = await page.textContent('#replay-rules tr[data-rule="browser_test_rule"] td:nth-child(5)');
    expect(Number(started.trim()) >= 1, `browser_test_rule starts matching in ${started} changed decisions`);
    expect((await page.textContent("#replay-changes")).includes("mallory"), "mallory's decision is not among the changes");
    await shot(page, "policy-replay");
    await page.fill('input[name="comment"]', "deny mallory (browser test)");
    await Promise.all([page.waitForNavigation(), page.click("#submit")]);
    expect((await page.textContent("h1")).includes("awaits approval"), "a punitive change went live without approval");
    expect(!(await page.$("#approve")), "the author could approve their own change");
    const version = page.url().split("/").pop();
    await author.context.close();

    const approver = await signIn("abe");
    await approver.page.goto(`${base}/console/policy/versions/${version}`);
    expect((await approver.page.textContent("#diff")).includes("browser_test_rule"), "the diff does not show the new rule");
    await shot(approver.page, "policy-approve");
    await Promise.all([approver.page.waitForNavigation(), approver.page.click("#approve")]);
    expect((await approver.page.textContent("h1")).includes("live"), "the approved version is not live");
    await approver.context.close();
    const decided = await sendEvent({ kind: "login_succeeded", user_id: "mallory", ip: "203.0.113.50" });
    expect(decided.outcome === "deny" && decided.matched.some((rule) => rule.rule_id === "browser_test_rule"),
      `the new rule did not decide: ${JSON.stringify(decided)}`);
  });

  await check("on a tablet, a viewer signs in with the keyboard alone and every page fits the screen", async () => {
    const context = await browser.newContext({
      locale: "en-GB",
      viewport: { width: 768, height: 1024 },
      deviceScaleFactor: 2,
      hasTouch: true,
      extraHTTPHeaders: { "accept-language": "en-GB" },
    });
    const page = await context.newPage();
    await page.goto(`${base}/console/login`);
    // From the top of the page, Tab reaches the form's fields in order; Enter submits.
    let focused = "";
    for (let presses = 0; presses < 12 && focused !== "username"; presses++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement && document.activeElement.name);
    }
    expect(focused === "username", `Tab never reached the user name (at ${focused})`);
    await page.keyboard.type("tab");
    await page.keyboard.press("Tab");
    await page.keyboard.type(operators.tab.password);
    await page.keyboard.press("Tab");
    expect((await page.evaluate(() => document.activeElement.name)) === "code", "Tab does not go from password to code");
    await page.keyboard.type(totp(operators.tab.secret, Date.now() / 1000));
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    expect(page.url().endsWith("/console/situation"), `not signed in by keyboard: ${page.url()}`);
    // The navigation is reachable by keyboard, and the focus is visible.
    await page.keyboard.press("Tab");
    const outline = await page.evaluate(() => {
      const element = document.activeElement;
      return element ? [element.tagName, getComputedStyle(element).outlineStyle] : ["", ""];
    });
    expect(outline[0] === "A" && outline[1] !== "none", `first Tab: ${outline.join(" ")}`);
    for (const path of ["/console/situation", "/console/situation?range=1440", "/console/decisions?outcome=deny", "/console/alerts", "/console/lists", "/console/lists/ip_block", "/console/entity/user/shopper9", "/console/audit", "/console/operators", "/console/tasks"]) {
      const response = await page.goto(`${base}${path}`);
      expect(response.status() === 200 || response.status() === 403, `${path} answered ${response.status()}`);
      const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect(scroll <= width + 1, `${path} is ${scroll} px wide on a ${width} px screen`);
      const title = await page.title();
      expect(title.length < 120 && !title.includes("<"), `${path} has the title ${JSON.stringify(title.slice(0, 80))}`);
    }
    await page.goto(`${base}/console/decisions?outcome=deny`);
    await shot(page, "tablet-decisions");
    await context.close();
  });

  await check("both languages render, chosen by Accept-Language and by the switch", async () => {
    const zh = await signIn("zoe", "zh-CN");
    expect((await zh.page.textContent("nav")).includes("态势"), "Chinese navigation missing");
    expect((await zh.page.getAttribute("html", "lang")) === "zh-CN", "lang attribute not zh-CN");
    await shot(zh.page, "situation-zh");
    // Every page of the frame renders in Chinese, with its empty states.
    for (const path of ["/console/decisions", "/console/policy", "/console/lists", "/console/lists/ip_block", "/console/tasks", "/console/situation?range=1440", "/console/entity/user/nobody", "/console/operators", "/console/alerts", "/console/alerts?status=any&assignee=me"]) {
      const response = await zh.page.goto(`${base}${path}`);
      expect(response.status() === 200, `${path} answered ${response.status()}`);
      expect(!(await zh.page.textContent("main")).includes("Something went wrong"), `${path} shows an error`);
    }
    await zh.page.goto(`${base}/console/situation`);
    await Promise.all([zh.page.waitForNavigation(), zh.page.click('button[name="lang"]')]);
    expect((await zh.page.textContent("nav")).includes("Situation"), "switch to English failed");
    expect(zh.problems.length === 0, `script errors: ${zh.problems.join("; ")}`);
    await zh.context.close();
  });

  await check("signing out ends the session: the old cookie no longer opens a page", async () => {
    const cookies = await analyst.context.cookies();
    const session = cookies.find((cookie) => cookie.name === "sg_session").value;
    await analyst.page.goto(`${base}/console/situation`);
    await Promise.all([analyst.page.waitForNavigation(), analyst.page.click('form[action="/console/logout"] button')]);
    expect(analyst.page.url().includes("/console/login"), "not back at the login page");
    const replay = await fetch(`${base}/console/situation`, { headers: { cookie: `sg_session=${session}` }, redirect: "manual" });
    expect(replay.status === 303 || replay.status === 302, `old session still opens pages: ${replay.status}`);
    expect(analyst.problems.length === 0, `script errors: ${analyst.problems.join("; ")}`);
  });
} finally {
  await browser.close();
}
console.log(`${results.length} checks passed`);
