// bench/render/peers/launch.mjs: how the puppeteer peers start the browser:
// Debian's chromium-headless-shell (no download), old headless, over a pipe.
import puppeteer from 'puppeteer-core';

export const executablePath = process.env.SILK_CHROMIUM || '/usr/lib/chromium/chromium-headless-shell';
export const args = ['--disable-gpu', '--disable-dev-shm-usage', ...(process.getuid() === 0 ? ['--no-sandbox'] : [])];
export const launchOptions = { executablePath, headless: 'shell', args };

export function launch() {
  return puppeteer.launch({ ...launchOptions, pipe: true });
}
