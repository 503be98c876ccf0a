// Debian's Chromium through playwright-core, as every browser script here launches it.

import { chromium } from 'playwright-core';

export const EXECUTABLE = '/usr/bin/chromium';
export const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Launch headless Chromium; `timeout` (ms) bounds the start. */
export function launch(timeout) {
  return chromium.launch({ executablePath: EXECUTABLE, args: LAUNCH_ARGS, timeout });
}
