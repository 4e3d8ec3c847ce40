// The tuning cache's file in Node (runtime/tuning-cache.ts has its format). Browser bundlers
// replace this module with ./tuning-file-browser.js through the `browser` field of package.json,
// so a browser bundle has no node: imports: there, no cache is read.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** $LAE_TUNING_CACHE, else $XDG_CACHE_HOME/lae/tuning.json, else ~/.cache/lae/tuning.json. */
export function defaultCachePath(): string | undefined {
  const env = process.env;
  if (env.LAE_TUNING_CACHE) return env.LAE_TUNING_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lae', 'tuning.json');
}

/** The file's text, or undefined when there is no such file. */
export function readCacheText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw e;
  }
}
