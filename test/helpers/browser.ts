import { existsSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { makeTempDir } from './temp-dir.js';

/** Debian's chromium package; `.ci/run` installs it. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(process.cwd(), 'test-artifacts');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** A headless Chromium with a fresh profile folder; `close` removes both. */
export async function launchBrowser(options: { width?: number; height?: number } = {}): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const dir = makeTempDir('bitchat-chromium-');
  const context = await chromium.launchPersistentContext(dir.path, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1000, height: options.height ?? 720 },
  });
  return {
    context,
    async close() {
      await context.close();
      dir.cleanup();
    },
  };
}

/** Where a screenshot goes (the folder is ignored by git, kept by CI as an artifact). */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return join(ARTIFACTS_DIR, name);
}
