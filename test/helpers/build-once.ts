// vitest globalSetup: builds dist/ once, before any test file starts. Several files run what the
// build writes (the browser bundle, `lae gen`'s spec loading, the examples, the packed package);
// with files in parallel, a build inside one of them would rewrite dist/ under another's feet.
// Under `npm test` (LAE_TYPECHECK=1) the type check of the sources and tests
// (tsconfig.test.json) runs here too, beside the build: each is one single-threaded tsc, so on two
// cores the pair takes the time of the longer instead of their sum, and no test file starts until
// both have passed.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${[cmd, ...args].join(' ')} failed:\n${stdout}${stderr}`));
      else resolve();
    });
  });
}

export default async function setup(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await Promise.all([
    run('npm', ['run', 'build'], root),
    ...(process.env.LAE_TYPECHECK === '1' ? [run(process.execPath, [tsc, '-p', 'tsconfig.test.json'], root)] : []),
  ]);
}
