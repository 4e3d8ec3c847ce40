// The browser's stand-in for ./tuning-file.js (package.json's `browser` field): no file system,
// so no tuning cache; engines use their default tuning or the one they are given.
export function defaultCachePath(): string | undefined {
  return undefined;
}

export function readCacheText(_path: string): string | undefined {
  return undefined;
}
