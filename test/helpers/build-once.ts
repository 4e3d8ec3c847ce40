// vitest globalSetup: builds dist/ once, before any test file starts. Several files run what the
// build writes (the browser bundle, `lae gen`'s spec loading, the examples, the packed package);
// with files in parallel, a build inside one of them would rewrite dist/ under another's feet.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
}
