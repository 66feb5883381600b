/**
 * Drives Debian's chromium (never a downloaded browser) through playwright-core, for the
 * dashboard's browser tests and benchmarks: headless, no sandbox (root in CI), no background
 * traffic, a fresh profile directory removed on close.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export class BrowserMissingError extends Error {
  override readonly name = 'BrowserMissingError';
}

/**
 * @example
 * const b = await launchChromium();
 * const page = await b.context.newPage();
 * await b.close();
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) throw new BrowserMissingError(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
  const profile = mkdtempSync(join(tmpdir(), 'swnet-chromium-'));
  // playwright passes the fresh profile as --user-data-dir (it refuses the flag among args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The built dashboard must exist (`npm run build` makes it). */
export function dashboardBuilt(webRoot: string): boolean {
  return existsSync(join(webRoot, 'index.html'));
}
