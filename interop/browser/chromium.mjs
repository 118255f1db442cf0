// Launching headless Chromium for the browser tests: Debian's /usr/bin/chromium (or $CHROMIUM)
// driven by playwright-core, which `npm ci` in interop/node installs (one lockfile for all
// Node clients). One place for the flags: background networking off, since this machine's
// closed network refuses Chromium's own connections.

import { createRequire } from 'node:module';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

/** A headless browser with a fresh, temporary profile. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    timeout: 30000,
  });
}
