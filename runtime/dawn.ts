// Dawn for Node (the optional `webgpu` package). Browser bundlers replace this module with
// ./dawn-browser.js through the `browser` field of package.json, so a browser bundle neither
// resolves `webgpu` nor pulls in the Node built-ins it imports.

export interface DawnModule {
  create: (flags: string[]) => GPU;
  globals: Record<string, unknown>;
}

/** Loads the `webgpu` package; throws its import error when it is not installed. */
export async function loadDawn(): Promise<DawnModule> {
  return (await import('webgpu')) as unknown as DawnModule;
}
