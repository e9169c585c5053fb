// Debian's Chromium driven by playwright-core (which never downloads a browser), and the few steps
// every flow shares: signing in, reaching a page through the navigation, waiting for text.
import fs from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { chromiumPath, RESULTS } from './steward.mjs';

/** The two sizes every page is checked at. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

/** A headless Chromium. */
export function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath(), args: ['--disable-dev-shm-usage'] });
}

/**
 * A fresh context (no session) at `viewport`, whose pages fail fast and record console errors.
 * @param {import('playwright-core').Browser} browser
 */
export async function newPage(browser, viewport = VIEWPORTS.desktop) {
  const context = await browser.newContext({ viewport, isMobile: viewport.width < 600, hasTouch: viewport.width < 600 });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  /** Errors the page logged or threw, for the test to show when it fails. */
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') page.errors.push(`console: ${message.text()}`);
  });
  return page;
}

/** Signs in through the sign-in form and waits until the console has left `/login`. */
export async function signIn(page, base, username, password) {
  await page.goto(`${base}/login`);
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await Promise.race([page.waitForURL((url) => !url.pathname.startsWith('/login')), alert.first().waitFor({ state: 'visible' })]);
  if (new URL(page.url()).pathname.startsWith('/login')) {
    throw new Error(`signing in as ${username} failed: ${await alert.first().innerText()}`);
  }
}

/** Follows the navigation link `name`, opening the `Menu` first on a narrow screen. */
export async function navigate(page, name) {
  const link = page.getByRole('link', { name, exact: true });
  const viaMenu = !(await link.first().isVisible());
  if (viaMenu) {
    await page.getByRole('button', { name: 'Menu', exact: true }).click();
  }
  await link.first().click();
  // On a phone the menu slides away after the click: wait until it is gone, so that what
  // follows (a screenshot, a click) meets the page and not the closing drawer.
  if (viaMenu) await page.locator('.n-drawer').waitFor({ state: 'detached' });
}

/** Waits until `locator` is visible, with a message naming what was awaited. */
export async function visible(locator, what, timeout = 15_000) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch (error) {
    throw new Error(`${what} did not appear within ${timeout} ms (${error.message.split('\n')[0]})`);
  }
  return locator.first();
}

/** Saves a full-page PNG as `web/test-results/screenshots/<name>.png`; returns its path. */
export async function screenshot(page, name) {
  const file = path.join(RESULTS, 'screenshots', `${name}.png`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
