/** Headless Chromium for the system tests: Debian's `chromium` package, driven by playwright-core. */
import { type Browser, chromium } from "playwright-core";

/** Where Debian's chromium package installs the browser (CHROMIUM_PATH overrides); scripts/test-system.ts checks it is there. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** No background traffic of the browser's own, so a page's requests are all the page makes. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
}
