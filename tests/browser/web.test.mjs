// web.test.mjs - real-browser end-to-end test of the web page that `cct serve` serves at /.
//
// It starts its own `cct serve` (CCT_BIN, default ./build/cct; free port, temporary DATA_DIR,
// WORKERS=1, HOST=127.0.0.1), drives Debian's Chromium (/usr/bin/chromium, override with
// CCT_CHROMIUM) through playwright-core, and walks the page as a person would: sign up, a wrong
// password, log in, the format selects, an unsupported pair and an empty file (the server's
// message must show on the page), a WAV -> mp3 conversion watched to "processed" (screenshot in
// /tmp/cct-web.png, override with CCT_WEB_SCREENSHOT), the download link and its bytes, the delete
// button, and finally a SIGTERM that must make the server exit 0.
//
// Run: npm ci --no-audit --no-fund && CCT_BIN=$PWD/build/cct node --test tests/browser/
// Needs: chromium and ffmpeg (Debian packages), playwright-core (package.json). No browser is
// downloaded: playwright-core only drives the Chromium that is already installed.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const CCT_BIN = resolve(process.env.CCT_BIN || "build/cct");
const CHROMIUM = process.env.CCT_CHROMIUM || "/usr/bin/chromium";
const SHOT = process.env.CCT_WEB_SCREENSHOT || "/tmp/cct-web.png";
const USER = "webuser" + process.pid;
const PASSWORD = "correct horse battery";

let tmp, server, serverExit, base, context, page, wavPath;
const pageErrors = [];

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

async function waitHealthy(url, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (server.exitCode !== null) throw new Error("cct serve exited early with " + server.exitCode);
    try { const r = await fetch(url + "/healthz"); if (r.ok) return; } catch { /* not up yet */ }
    if (Date.now() > end) throw new Error("cct serve did not become healthy");
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopServer(ms) {
  if (!server || server.exitCode !== null || server.signalCode !== null) return serverExit;
  server.kill("SIGTERM");
  const timer = setTimeout(() => server.kill("SIGKILL"), ms);
  return serverExit.finally(() => clearTimeout(timer));
}

// The API answer for the page's own token (what the page itself would see).
async function apiAsPage(path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { headers: { Authorization: "Bearer " + sessionStorage.getItem("cct.token") } });
    return { status: r.status, body: r.status === 200 ? await r.json() : null };
  }, path);
}

async function submitUpload(file, kind, target) {
  await page.setInputFiles("#upload-form input[name=file]", file);
  if (kind) await page.selectOption("#kind", kind);
  await page.selectOption("#target", target);
  await page.click("#upload-btn");
}

describe("cct web page in Chromium", { timeout: 120_000 }, () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "cct-web-"));
    wavPath = join(tmp, "tone.wav");
    execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1", wavPath]);

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const log = [];
    server = spawn(CCT_BIN, ["serve"], {
      env: { ...process.env, HOST: "127.0.0.1", PORT: String(port), DATA_DIR: join(tmp, "data"),
             WORKERS: "1", HTTP_THREADS: "2", LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const s of [server.stdout, server.stderr]) s.on("data", (d) => log.push(d.toString()));
    serverExit = new Promise((ok) => server.on("exit", (code, signal) => ok({ code, signal, log: log.join("") })));
    await waitHealthy(base, 15_000);

    context = await chromium.launchPersistentContext(join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1100, height: 760 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage"],
    });
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    if (context) await context.close().catch(() => {});
    await stopServer(5_000);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("opens the page with the login and sign-up forms", async () => {
    const res = await page.goto(base + "/");
    assert.equal(res.status(), 200);
    assert.match(await page.title(), /cct/);
    assert.ok(await page.isVisible("#login-form"));
    assert.ok(await page.isVisible("#signup-form"));
    assert.ok(await page.isHidden("#upload"));
  });

  it("signs up a new user through the form", async () => {
    await page.fill("#signup-form input[name=username]", USER);
    await page.fill("#signup-form input[name=email]", USER + "@example.org");
    await page.fill("#signup-form input[name=password1]", PASSWORD);
    await page.fill("#signup-form input[name=password2]", PASSWORD);
    await page.click("#signup-form button[type=submit]");
    await page.waitForSelector("#signup-msg.ok");
    assert.match(await page.textContent("#signup-msg"), /account created/i);
    // The page carries the new name over to the login form.
    assert.equal(await page.inputValue("#login-form input[name=username]"), USER);
  });

  it("shows an error on the page for a wrong password", async () => {
    await page.fill("#login-form input[name=username]", USER);
    await page.fill("#login-form input[name=password]", "not the password");
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#login-msg.error");
    assert.match(await page.textContent("#login-msg"), /wrong username or password/);
    assert.ok(await page.isHidden("#upload"), "still logged out");
  });

  it("logs in", async () => {
    await page.fill("#login-form input[name=password]", PASSWORD);
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#upload", { state: "visible" });
    assert.ok(await page.isVisible("#tasks"));
    assert.ok(await page.isHidden("#auth"));
    assert.match(await page.textContent("#who"), new RegExp(USER));
    assert.ok(await page.evaluate(() => !!sessionStorage.getItem("cct.token")));
  });

  it("fills the format selects from /api/formats", async () => {
    const api = await (await fetch(base + "/api/formats")).json();
    const kinds = [...new Set(api.formats.map((f) => f.kind))];
    const options = (sel) => page.$$eval(sel + " option", (os) => os.map((o) => o.value));
    assert.deepEqual(await options("#kind"), kinds);
    for (const p of api.presets) assert.ok((await options("#preset")).includes(p), "preset " + p);
    await page.selectOption("#kind", "audio");
    const audioTargets = new Set(api.formats.filter((f) => f.kind === "audio").flatMap((f) => f.targets));
    assert.deepEqual(new Set(await options("#target")), audioTargets);
    assert.ok(audioTargets.has("mp3"));
  });

  it("shows the server's message for an unsupported pair", async () => {
    await submitUpload(wavPath, "image", "png");
    await page.waitForSelector("#upload-msg.error");
    assert.match(await page.textContent("#upload-msg"), /cannot convert wav to png/);
  });

  it("shows the server's message for an empty file", async () => {
    await submitUpload({ name: "empty.wav", mimeType: "audio/wav", buffer: Buffer.alloc(0) }, null, "mp3");
    await page.waitForFunction(() => /empty/.test(document.getElementById("upload-msg").textContent));
    assert.match(await page.getAttribute("#upload-msg", "class"), /error/);
    assert.match(await page.textContent("#upload-msg"), /the file is empty/);
  });

  it("converts an uploaded WAV to mp3 and shows it processed", { timeout: 70_000 }, async () => {
    await page.setInputFiles("#upload-form input[name=file]", wavPath);
    assert.equal(await page.inputValue("#kind"), "audio", "kind guessed from the file name");
    // wav -> wav is offered only with a preset (the server refuses it without one).
    const targets = () => page.$$eval("#target option", (os) => os.map((o) => o.value));
    assert.ok(!(await targets()).includes("wav"));
    await page.selectOption("#preset", "small");
    assert.ok((await targets()).includes("wav"));
    await page.selectOption("#preset", "");
    assert.ok(!(await targets()).includes("wav"));
    await page.selectOption("#target", "mp3");
    await page.click("#upload-btn");
    await page.waitForSelector("#upload-msg.ok");
    assert.match(await page.textContent("#upload-msg"), /Uploaded tone.wav as task \d+/);
    await page.waitForFunction(() => [...document.querySelectorAll("#task-rows tr")].some((tr) =>
      tr.cells[0] && tr.cells[0].textContent === "tone.wav" && tr.cells[2].textContent === "processed"),
      null, { timeout: 60_000, polling: 250 });
    const row = page.locator("#task-rows tr", { hasText: "tone.wav" });
    assert.equal(await row.count(), 1);
    assert.match(await row.locator("td").nth(1).textContent(), /wav → mp3/);
    assert.match(await row.locator("td").nth(3).textContent(), /100%/);
    await page.screenshot({ path: SHOT, fullPage: true });
  });

  it("links the result and serves an mp3 for the page's token", async () => {
    const list = await apiAsPage("/api/tasks?max=10&order=1");
    assert.equal(list.status, 200);
    const task = list.body.find((t) => t.fileName === "tone.wav");
    assert.equal(task.status, "processed");
    assert.equal(task.links.result, `/api/tasks/${task.id}/result`);

    const link = page.locator("#task-rows tr", { hasText: "tone.wav" }).getByRole("link", { name: /download result/i });
    assert.equal(await link.getAttribute("href"), task.links.result);

    const got = await page.evaluate(async (href) => {
      const r = await fetch(href, { headers: { Authorization: "Bearer " + sessionStorage.getItem("cct.token") } });
      const b = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get("Content-Type"), size: b.length, head: [...b.slice(0, 4)] };
    }, await link.getAttribute("href"));
    assert.equal(got.status, 200);
    assert.ok(got.size > 1000, "mp3 of one second: " + got.size + " bytes");
    const id3 = got.head[0] === 0x49 && got.head[1] === 0x44 && got.head[2] === 0x33;
    const sync = got.head[0] === 0xff && (got.head[1] & 0xe0) === 0xe0;
    assert.ok(id3 || sync, "starts with ID3 or an MPEG frame sync: " + got.head);

    // Clicking the link downloads the file (the page adds the token itself).
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert.match(download.suggestedFilename(), /\.mp3$/);
    const saved = readFileSync(await download.path());
    assert.equal(saved.length, got.size);
  });

  it("deletes the task with its button", async () => {
    const before = await apiAsPage("/api/tasks?max=10&order=1");
    const id = before.body.find((t) => t.fileName === "tone.wav").id;
    page.once("dialog", (d) => d.accept());
    await page.locator("#task-rows tr", { hasText: "tone.wav" }).getByRole("button", { name: /^delete/i }).click();
    await page.waitForFunction(() => ![...document.querySelectorAll("#task-rows td")]
      .some((td) => td.textContent === "tone.wav"));
    assert.equal((await apiAsPage("/api/tasks/" + id)).status, 404);
    assert.match(await page.textContent("#task-rows"), /No tasks yet/);
  });

  it("raised no script errors", () => {
    assert.deepEqual(pageErrors, []);
  });

  it("stops the server with SIGTERM, exit status 0", async () => {
    await context.close();
    context = null;
    const { code, signal, log } = await stopServer(15_000);
    assert.equal(signal, null, "ended by a signal: " + signal + "\n" + log);
    assert.equal(code, 0, log);
  });
});
