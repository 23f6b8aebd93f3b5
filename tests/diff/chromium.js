// chromium.js -- the headless Chromium the differential generators record
// from: Debian's chromium-headless-shell driven by puppeteer-core, with a
// throwaway profile and nothing running in the background.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const puppeteer = require("puppeteer-core");

const DEFAULT = "/usr/lib/chromium/chromium-headless-shell";

// Launches the browser at executablePath (default: Debian's); `name` tags
// its profile directory.
function launch(executablePath, name) {
  return puppeteer.launch({
    executablePath: executablePath || DEFAULT,
    headless: "shell",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    userDataDir: fs.mkdtempSync(path.join(os.tmpdir(), `silk-${name}-`)),
  });
}

// Runs a generator's async main; a failure is printed and exits 1.
function run(main) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { launch, run };
